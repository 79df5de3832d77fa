//! The optimised per-tile blending kernel.
//!
//! A 16×16 tile is processed in two steps:
//!
//! 1. **Gather.** The tile's depth-ordered list is walked once: Gaussians whose α ≥ 1/255 bounding box
//!    misses every pixel centre of the tile are dropped (the 3σ tile rectangle is larger than that box, so
//!    this removes a quarter of the tile instances on real scenes); the others are copied into a compact
//!    per-tile array (one 40-byte record each, so the row loops below read L1-resident data instead of
//!    chasing indices into the frame-wide array), and their index is appended to the list of every tile
//!    row their box covers. Lists stay in depth order.
//! 2. **Rows.** Each pixel row (16 pixels = two groups of 8 lanes) walks its own list with its
//!    transmittance, colour and liveness in registers. Per Gaussian both groups' powers are computed (a
//!    few multiplies); a group is evaluated (exp, α, compositing) only if some live lane has
//!    `power ≥ power_min = ln(1/(255·opacity)) − 10⁻³`. A lane below that bound has `α < 1/255` whatever
//!    the rounding of `exp` (the margin is 10³ times its error), i.e. it would be skipped by the exact
//!    test anyway, so this filter never changes a pixel. The row stops as soon as all 16 pixels have
//!    terminated (`T·(1−α)` below the threshold).
//!
//! `exp` is a polynomial approximation ([`exp_neg`], ≤ 2 ulp on the range used) rather than libm, which is
//! what allows vectorisation. The explicit AVX2 row kernel is selected at run time; no FMA is used, and
//! every lane performs the portable kernel's operations in the same order, so both produce bit-identical
//! images (Rust never contracts `a·b + c`).

use std::cell::RefCell;

use crate::options::{CompatParams, ALPHA_MIN, TILE_SIZE, T_STOP};

const LANES: usize = 8;
const TS: usize = TILE_SIZE as usize;
const GROUPS_PER_ROW: usize = TS / LANES;

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
    /// Below this power `α < 1/255` (see `project::Splat2D::power_min`).
    pub power_min: f32,
    /// Half-extents (pixels, padded) of the box outside which `α < 1/255`.
    pub alpha_ext_x: f32,
    pub alpha_ext_y: f32,
}

/// What the kernel needs about the frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TileFrame {
    pub width: u32,
    pub height: u32,
    pub params: CompatParams,
    pub background: [f32; 3],
}

/// A Gaussian gathered for one tile (compact: only what the row loop reads).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct TileSplat {
    mean_x: f32,
    mean_y: f32,
    conic_a: f32,
    conic_b: f32,
    conic_c: f32,
    opacity: f32,
    power_min: f32,
    color: [f32; 3],
}

/// Per-thread scratch of the tile kernel (reused: no allocation once it has grown to the largest tile).
#[derive(Debug, Default)]
struct TileScratch {
    splats: Vec<TileSplat>,
    /// Row `r`'s list is `row_lists[r·stride .. r·stride + row_len[r]]` (indices into `splats`).
    row_lists: Vec<u32>,
    row_len: [usize; TS],
    stride: usize,
}

thread_local! {
    static SCRATCH: RefCell<TileScratch> = RefCell::new(TileScratch::default());
}

/// The tile's pixel rectangle.
#[derive(Debug, Clone, Copy)]
struct TileGeom {
    x0: usize,
    y0: usize,
    rows: usize,
    cols: usize,
}

/// `e^x` for `x ≤ 0`; inputs below −60 return `e^−60` (≈ 8.8e−27: any α from it is far below 1/255,
/// and the clamp keeps every product normal — denormals cost microcode assists of ~100 cycles): Cody–Waite
/// reduction and the Cephes `expf` polynomial. Pure float/int arithmetic so that it vectorises.
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
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        let geo = tile_geom(frame, tile_x, tile_y);
        gather(&geo, list, splats, &mut scratch);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                unsafe { avx2::blend_rows(frame, &geo, &scratch, out) };
                return;
            }
        }
        blend_rows_portable(frame, &geo, &scratch, out);
    });
}

fn tile_geom(frame: &TileFrame, tile_x: u32, tile_y: u32) -> TileGeom {
    let x0 = (tile_x * TILE_SIZE) as usize;
    let y0 = (tile_y * TILE_SIZE) as usize;
    TileGeom { x0, y0, rows: (frame.height as usize - y0).min(TS), cols: (frame.width as usize - x0).min(TS) }
}

/// Tile-local rows `[r0, r1]` whose pixel centres may lie in `s`'s α box, if the box also covers a pixel
/// centre column of the tile.
#[inline(always)]
fn splat_rows(s: &SplatBlend, geo: &TileGeom) -> Option<(usize, usize)> {
    let (x0, y0) = (geo.x0 as f32, geo.y0 as f32);
    let fy0 = (s.mean_y - s.alpha_ext_y - 0.5 - y0).ceil().max(0.0);
    let fy1 = (s.mean_y + s.alpha_ext_y - 0.5 - y0).floor().min(geo.rows as f32 - 1.0);
    let fx0 = (s.mean_x - s.alpha_ext_x - 0.5 - x0).ceil().max(0.0);
    let fx1 = (s.mean_x + s.alpha_ext_x - 0.5 - x0).floor().min(geo.cols as f32 - 1.0);
    if !(fy1 >= fy0 && fx1 >= fx0) {
        return None;
    }
    Some((fy0 as usize, fy1 as usize))
}

/// Step 1: compact the tile's Gaussians and build the per-row lists (depth order kept).
fn gather(geo: &TileGeom, list: &[u32], splats: &[SplatBlend], sc: &mut TileScratch) {
    let stride = list.len();
    sc.splats.clear();
    if sc.row_lists.len() < TS * stride {
        sc.row_lists.resize(TS * stride, 0);
    }
    sc.stride = stride;
    let mut row_len = [0usize; TS];
    for &idx in list {
        let s = &splats[idx as usize];
        let Some((r0, r1)) = splat_rows(s, geo) else { continue };
        let k = sc.splats.len() as u32;
        sc.splats.push(TileSplat {
            mean_x: s.mean_x,
            mean_y: s.mean_y,
            conic_a: s.conic_a,
            conic_b: s.conic_b,
            conic_c: s.conic_c,
            opacity: s.opacity,
            power_min: s.power_min,
            color: s.color,
        });
        for (row, len) in row_len.iter_mut().enumerate().take(r1 + 1).skip(r0) {
            sc.row_lists[row * stride + *len] = k;
            *len += 1;
        }
    }
    sc.row_len = row_len;
}

impl TileScratch {
    fn row(&self, row: usize) -> &[u32] {
        &self.row_lists[row * self.stride..row * self.stride + self.row_len[row]]
    }
}

/// Writes `C + T·background` for the row's in-image pixels (`line` = one image row).
#[inline(always)]
fn write_row(
    frame: &TileFrame,
    geo: &TileGeom,
    t: &[[f32; LANES]; GROUPS_PER_ROW],
    acc: &[[[f32; LANES]; GROUPS_PER_ROW]; 3],
    line: &mut [f32],
) {
    let bg = frame.background;
    let px = &mut line[geo.x0 * 3..(geo.x0 + geo.cols) * 3];
    for (col, o) in px.chunks_exact_mut(3).enumerate() {
        let (g, l) = (col / LANES, col % LANES);
        let tv = t[g][l];
        o[0] = acc[0][g][l] + tv * bg[0];
        o[1] = acc[1][g][l] + tv * bg[1];
        o[2] = acc[2][g][l] + tv * bg[2];
    }
}

/// Step 2, portable build (the reference for the AVX2 build: same operations, same order).
fn blend_rows_portable(frame: &TileFrame, geo: &TileGeom, sc: &TileScratch, out: &mut [f32]) {
    let w3 = frame.width as usize * 3;
    let alpha_max = frame.params.alpha_max;
    let inclusive = frame.params.stop_inclusive;
    let mut px = [[0.0f32; LANES]; GROUPS_PER_ROW];
    for (g, p) in px.iter_mut().enumerate() {
        for (l, x) in p.iter_mut().enumerate() {
            *x = (geo.x0 + g * LANES) as f32 + (l as f32 + 0.5);
        }
    }
    for row in 0..geo.rows {
        let y = (geo.y0 + row) as f32 + 0.5;
        let mut t = [[1.0f32; LANES]; GROUPS_PER_ROW];
        let mut acc = [[[0.0f32; LANES]; GROUPS_PER_ROW]; 3];
        let mut live = [[false; LANES]; GROUPS_PER_ROW];
        for (g, lv) in live.iter_mut().enumerate() {
            for (l, v) in lv.iter_mut().enumerate() {
                *v = g * LANES + l < geo.cols;
            }
        }
        let mut live_count = geo.cols;
        for &k in sc.row(row) {
            let s = &sc.splats[k as usize];
            let dy = s.mean_y - y;
            let cdd = s.conic_c * dy * dy;
            for g in 0..GROUPS_PER_ROW {
                let mut power = [0.0f32; LANES];
                let mut any = false;
                for l in 0..LANES {
                    let dx = s.mean_x - px[g][l];
                    power[l] = -0.5 * (s.conic_a * dx * dx + cdd) - s.conic_b * dx * dy;
                    any |= power[l] >= s.power_min && live[g][l];
                }
                if !any {
                    continue;
                }
                for l in 0..LANES {
                    let alpha = (s.opacity * exp_neg(power[l])).min(alpha_max);
                    if !(power[l] <= 0.0 && alpha >= ALPHA_MIN && live[g][l]) {
                        continue;
                    }
                    let tl = t[g][l];
                    let test_t = tl * (1.0 - alpha);
                    let stop = if inclusive { test_t <= T_STOP } else { test_t < T_STOP };
                    if stop {
                        live[g][l] = false;
                        live_count -= 1;
                        continue;
                    }
                    for ch in 0..3 {
                        acc[ch][g][l] += s.color[ch] * alpha * tl;
                    }
                    t[g][l] = test_t;
                }
            }
            if live_count == 0 {
                break;
            }
        }
        write_row(frame, geo, &t, &acc, &mut out[row * w3..(row + 1) * w3]);
    }
}

/// Step 2 with explicit AVX2 intrinsics. Every lane performs exactly the portable kernel's operations
/// in the same order (no FMA), so both produce bit-identical images.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{write_row, TileFrame, TileGeom, TileScratch, GROUPS_PER_ROW, LANES};
    use crate::options::{ALPHA_MIN, T_STOP};

    /// One 8-pixel group's state, kept in registers across the row's Gaussians.
    #[derive(Clone, Copy)]
    struct Group {
        t: __m256,
        r: __m256,
        g: __m256,
        b: __m256,
        /// All-ones bits while the pixel accumulates, zero once stopped (or outside the image).
        live: __m256,
    }

    /// Frame constants in registers.
    #[derive(Clone, Copy)]
    struct Consts {
        alpha_max: __m256,
        alpha_min: __m256,
        t_stop: __m256,
        one: __m256,
        zero: __m256,
        inclusive: bool,
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn blend_rows(frame: &TileFrame, geo: &TileGeom, sc: &TileScratch, out: &mut [f32]) {
        let w3 = frame.width as usize * 3;
        let c = Consts {
            alpha_max: _mm256_set1_ps(frame.params.alpha_max),
            alpha_min: _mm256_set1_ps(ALPHA_MIN),
            t_stop: _mm256_set1_ps(T_STOP),
            one: _mm256_set1_ps(1.0),
            zero: _mm256_setzero_ps(),
            inclusive: frame.params.stop_inclusive,
        };
        let minus_half = _mm256_set1_ps(-0.5);
        let offsets = _mm256_setr_ps(0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5);
        let px0 = _mm256_add_ps(_mm256_set1_ps(geo.x0 as f32), offsets);
        let px1 = _mm256_add_ps(_mm256_set1_ps((geo.x0 + LANES) as f32), offsets);
        let lane_idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let cols = geo.cols as i32;
        let live0 = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lane_idx));
        let live1 = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(cols - LANES as i32), lane_idx));
        let splats = &sc.splats;

        for row in 0..geo.rows {
            let y = (geo.y0 + row) as f32 + 0.5;
            let fresh = |live| Group { t: c.one, r: c.zero, g: c.zero, b: c.zero, live };
            let mut g0 = fresh(live0);
            let mut g1 = fresh(live1);
            for &k in sc.row(row) {
                // SAFETY: `k` was pushed by `gather` as an index of `splats`.
                let s = unsafe { splats.get_unchecked(k as usize) };
                let dy_s = s.mean_y - y;
                let dy = _mm256_set1_ps(dy_s);
                let cdd = _mm256_set1_ps(s.conic_c * dy_s * dy_s);
                let mean_x = _mm256_set1_ps(s.mean_x);
                let ca = _mm256_set1_ps(s.conic_a);
                let cb = _mm256_set1_ps(s.conic_b);
                let pmin = _mm256_set1_ps(s.power_min);
                let power = |px: __m256| {
                    let dx = _mm256_sub_ps(mean_x, px);
                    let adx2 = _mm256_mul_ps(_mm256_mul_ps(ca, dx), dx);
                    let bdxdy = _mm256_mul_ps(_mm256_mul_ps(cb, dx), dy);
                    _mm256_sub_ps(_mm256_mul_ps(minus_half, _mm256_add_ps(adx2, cdd)), bdxdy)
                };
                let p0 = power(px0);
                let p1 = power(px1);
                let m0 = _mm256_movemask_ps(_mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(p0, pmin), g0.live));
                let m1 = _mm256_movemask_ps(_mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(p1, pmin), g1.live));
                if (m0 | m1) == 0 {
                    continue;
                }
                let opacity = _mm256_set1_ps(s.opacity);
                let col = [_mm256_set1_ps(s.color[0]), _mm256_set1_ps(s.color[1]), _mm256_set1_ps(s.color[2])];
                let mut stopped = 0;
                if m0 != 0 {
                    stopped |= eval_group(&mut g0, p0, opacity, &col, &c);
                }
                if m1 != 0 {
                    stopped |= eval_group(&mut g1, p1, opacity, &col, &c);
                }
                if stopped != 0 && _mm256_movemask_ps(_mm256_or_ps(g0.live, g1.live)) == 0 {
                    break;
                }
            }
            let mut t = [[0.0f32; LANES]; GROUPS_PER_ROW];
            let mut acc = [[[0.0f32; LANES]; GROUPS_PER_ROW]; 3];
            // SAFETY (stores): 8-lane arrays, unaligned access allowed.
            unsafe {
                for (gi, grp) in [g0, g1].iter().enumerate() {
                    _mm256_storeu_ps(t[gi].as_mut_ptr(), grp.t);
                    _mm256_storeu_ps(acc[0][gi].as_mut_ptr(), grp.r);
                    _mm256_storeu_ps(acc[1][gi].as_mut_ptr(), grp.g);
                    _mm256_storeu_ps(acc[2][gi].as_mut_ptr(), grp.b);
                }
            }
            write_row(frame, geo, &t, &acc, &mut out[row * w3..(row + 1) * w3]);
        }
    }

    /// Composites one Gaussian into one group; returns the mask of lanes that terminated.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn eval_group(st: &mut Group, power: __m256, opacity: __m256, col: &[__m256; 3], c: &Consts) -> i32 {
        let alpha = _mm256_min_ps(_mm256_mul_ps(opacity, exp_neg(power)), c.alpha_max);
        let valid = _mm256_and_ps(
            _mm256_and_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(power, c.zero), _mm256_cmp_ps::<_CMP_GE_OQ>(alpha, c.alpha_min)),
            st.live,
        );
        let test_t = _mm256_mul_ps(st.t, _mm256_sub_ps(c.one, alpha));
        let stop = if c.inclusive {
            _mm256_cmp_ps::<_CMP_LE_OQ>(test_t, c.t_stop)
        } else {
            _mm256_cmp_ps::<_CMP_LT_OQ>(test_t, c.t_stop)
        };
        let add = _mm256_andnot_ps(stop, valid);
        let stop_now = _mm256_and_ps(stop, valid);
        let blend = |acc: __m256, colour: __m256| {
            _mm256_blendv_ps(acc, _mm256_add_ps(acc, _mm256_mul_ps(_mm256_mul_ps(colour, alpha), st.t)), add)
        };
        st.r = blend(st.r, col[0]);
        st.g = blend(st.g, col[1]);
        st.b = blend(st.b, col[2]);
        st.t = _mm256_blendv_ps(st.t, test_t, add);
        st.live = _mm256_andnot_ps(stop_now, st.live);
        _mm256_movemask_ps(stop_now)
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

    /// The power filter must only skip lanes the exact test rejects: at (and below) `power_min`, α < 1/255.
    #[test]
    fn power_min_is_conservative() {
        let mut o = ALPHA_MIN;
        while o <= 1.0 {
            let two_l = 2.0 * (o / ALPHA_MIN).ln().max(0.0);
            let power_min: f32 = -0.5 * two_l - 1e-3;
            assert!(o * exp_neg(power_min) < ALPHA_MIN, "opacity {o}");
            o *= 1.001;
        }
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
                    let opacity = 0.02 + rnd() * 0.98;
                    let two_l = 2.0 * (opacity / ALPHA_MIN).ln();
                    SplatBlend {
                        mean_x: 16.0 + rnd() * 24.0,
                        mean_y: 16.0 + rnd() * 20.0,
                        conic_a: a,
                        conic_b: b,
                        conic_c: c,
                        opacity,
                        color: [rnd(), rnd() * 2.0, rnd()],
                        power_min: -0.5 * two_l - 1e-3,
                        alpha_ext_x: 4.0 + rnd() * 8.0,
                        alpha_ext_y: 4.0 + rnd() * 8.0,
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
                    let geo = tile_geom(&frame, tx, ty);
                    let mut sc = TileScratch::default();
                    gather(&geo, &list, &splats, &mut sc);
                    blend_rows_portable(&frame, &geo, &sc, &mut a);
                    // SAFETY: AVX2 support checked above.
                    unsafe { avx2::blend_rows(&frame, &geo, &sc, &mut b) };
                    assert!(a.iter().any(|&v| v != 0.0));
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&a), bits(&b), "tile ({tx}, {ty}), inclusive {inclusive}");
                }
            }
        }
    }
}
