//! Eight Gaussians at a time with AVX2: the projection of [`ProjectCtx::project`] for the renderer's
//! default mode (Inria, not antialiased), operation for operation, so both give bit-identical results
//! (tested below on degenerate, culled and visible Gaussians). Every check becomes a lane mask and a lane's
//! outcome is its first failing check, as the scalar early returns; `ln`, the SH colour and the final
//! record stay scalar per lane. Rust never contracts `a·b + c`, so plain intrinsics reproduce the scalar
//! rounding exactly.

use std::arch::x86_64::*;

use worldflow_protocol::Gaussians;

use super::{log2_opacity, Fate, ProjectCtx, Splat2D};
use crate::options::{ALPHA_MIN, DILATION_PX2, INRIA_NEAR_Z, TILE_SIZE};

const L: usize = 8;

/// Lanes decided so far, and which of them are invalid (the rest culled).
struct Outcome {
    decided: __m256,
    invalid: __m256,
}

impl Outcome {
    /// Lanes where `ok` is false and no earlier check failed become invalid.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn invalid_unless(&mut self, ok: __m256) {
        let fail = _mm256_andnot_ps(ok, all_lanes());
        self.invalid = _mm256_or_ps(self.invalid, _mm256_andnot_ps(self.decided, fail));
        self.decided = _mm256_or_ps(self.decided, fail);
    }

    /// Lanes where `ok` is false and no earlier check failed are culled.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn culled_unless(&mut self, ok: __m256) {
        self.decided = _mm256_or_ps(self.decided, _mm256_andnot_ps(ok, all_lanes()));
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn all_decided(&self) -> bool {
        _mm256_movemask_ps(self.decided) == 0xFF
    }
}

#[inline]
#[target_feature(enable = "avx2")]
fn all_lanes() -> __m256 {
    _mm256_castsi256_ps(_mm256_set1_epi32(-1))
}

#[inline]
#[target_feature(enable = "avx2")]
fn splat(v: f32) -> __m256 {
    _mm256_set1_ps(v)
}

#[inline]
#[target_feature(enable = "avx2")]
fn load(a: [f32; L]) -> __m256 {
    // SAFETY: `a` holds 8 floats; unaligned loads are allowed.
    unsafe { _mm256_loadu_ps(a.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn store(v: __m256) -> [f32; L] {
    let mut a = [0.0; L];
    // SAFETY: `a` holds 8 floats; unaligned stores are allowed.
    unsafe { _mm256_storeu_ps(a.as_mut_ptr(), v) };
    a
}

#[inline]
#[target_feature(enable = "avx2")]
fn store_i(v: __m256i) -> [i32; L] {
    let mut a = [0; L];
    // SAFETY: `a` holds 8 i32; unaligned stores are allowed.
    unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), v) };
    a
}

/// `x.is_finite()` per lane (`x − x` is 0 exactly for finite `x`, NaN otherwise).
#[inline]
#[target_feature(enable = "avx2")]
fn finite(x: __m256) -> __m256 {
    _mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_sub_ps(x, x), _mm256_setzero_ps())
}

#[inline]
#[target_feature(enable = "avx2")]
fn and3(a: __m256, b: __m256, c: __m256) -> __m256 {
    _mm256_and_ps(_mm256_and_ps(a, b), c)
}

/// `f32::clamp` for the finite lanes that reach it (NaN lanes are decided before).
#[inline]
#[target_feature(enable = "avx2")]
fn clamp(x: __m256, lo: f32, hi: f32) -> __m256 {
    _mm256_min_ps(_mm256_max_ps(x, splat(lo)), splat(hi))
}

/// `(v as i64).clamp(0, n)` (C truncation, NaN → 0): bounded in float first so the conversion is in range.
#[inline]
#[target_feature(enable = "avx2")]
fn trunc_clamp(v: __m256, n: u32) -> __m256i {
    let bounded = _mm256_min_ps(_mm256_max_ps(v, splat(-1.0)), splat(n as f32 + 1.0));
    let i = _mm256_cvttps_epi32(bounded);
    _mm256_min_epi32(_mm256_max_epi32(i, _mm256_setzero_si256()), _mm256_set1_epi32(n as i32))
}

/// `(a·b + c·d) + e·f`.
#[inline]
#[target_feature(enable = "avx2")]
fn dot3(a: __m256, b: __m256, c: __m256, d: __m256, e: __m256, f: __m256) -> __m256 {
    _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(a, b), _mm256_mul_ps(c, d)), _mm256_mul_ps(e, f))
}

impl ProjectCtx {
    /// [`Self::project`] of Gaussians `base..base + 8` (requires [`Self::has_wide_projection`]): the fates, and
    /// the records of the visible ones in `out[lane]` (`out.len() == 8`; other lanes untouched).
    #[cfg(test)]
    #[target_feature(enable = "avx2")]
    pub(crate) fn project8(&self, g: &Gaussians, base: usize, out: &mut [Splat2D]) -> [Fate; L] {
        self.project8_at(g, std::array::from_fn(|l| base + l), out)
    }

    /// [`Self::project`] of the Gaussians `idx` (lane `l`: Gaussian `idx[l]`; requires
    /// [`Self::has_wide_projection`]): the fates, and the records of the visible ones in `out[lane]`.
    #[target_feature(enable = "avx2")]
    pub(crate) fn project8_at(&self, g: &Gaussians, idx: [usize; L], out: &mut [Splat2D]) -> [Fate; L] {
        // Gather the lanes' fields (one pass over the 8 Gaussians).
        let (mut m, mut s, mut q, mut opacity_a) = ([[0.0; L]; 3], [[0.0; L]; 3], [[0.0; L]; 4], [0.0; L]);
        for (l, &i) in idx.iter().enumerate() {
            let (mean, scale, rot) = (g.means[i], g.scales[i], g.rotations[i]);
            (m[0][l], m[1][l], m[2][l]) = (mean.x, mean.y, mean.z);
            (s[0][l], s[1][l], s[2][l]) = (scale.x, scale.y, scale.z);
            (q[0][l], q[1][l], q[2][l], q[3][l]) = (rot.w, rot.x, rot.y, rot.z);
            opacity_a[l] = g.opacities[i];
        }
        let (mx, my, mz) = (load(m[0]), load(m[1]), load(m[2]));
        let (sx, sy, sz) = (load(s[0]), load(s[1]), load(s[2]));
        let (qw, qx, qy, qz) = (load(q[0]), load(q[1]), load(q[2]), load(q[3]));
        let opacity = load(opacity_a);
        let zero = _mm256_setzero_ps();
        let mut fate = Outcome { decided: zero, invalid: zero };

        fate.invalid_unless(_mm256_and_ps(
            and3(finite(mx), finite(my), finite(mz)),
            _mm256_and_ps(and3(finite(sx), finite(sy), finite(sz)), finite(opacity)),
        ));
        let gt0 = |v: __m256| _mm256_cmp_ps::<_CMP_GT_OQ>(v, zero);
        fate.invalid_unless(and3(gt0(sx), gt0(sy), gt0(sz)));
        let sq = |v: __m256| _mm256_mul_ps(v, v);
        let qn2 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(sq(qw), sq(qx)), sq(qy)), sq(qz));
        fate.invalid_unless(_mm256_and_ps(gt0(qn2), finite(qn2)));

        // View-space mean.
        let (r, t) = (&self.rot, &self.trans);
        let view = |row: &[f32; 3], t: f32| {
            _mm256_add_ps(dot3(splat(row[0]), mx, splat(row[1]), my, splat(row[2]), mz), splat(t))
        };
        let (tx, ty, tz) = (view(&r[0], t[0]), view(&r[1], t[1]), view(&r[2], t[2]));
        fate.invalid_unless(and3(finite(tx), finite(ty), finite(tz)));
        fate.culled_unless(_mm256_cmp_ps::<_CMP_GT_OQ>(tz, splat(INRIA_NEAR_Z)));
        fate.culled_unless(_mm256_cmp_ps::<_CMP_LE_OQ>(tz, splat(self.far_z)));
        fate.culled_unless(_mm256_cmp_ps::<_CMP_GE_OQ>(opacity, splat(ALPHA_MIN)));
        if fate.all_decided() {
            return self.finish(g, &idx, &fate, None, out);
        }

        // Conservative off-screen cull (see `surely_off_screen`).
        let two_l = load(opacity_a.map(|o| 2.0 * (o / ALPHA_MIN).ln().max(0.0)));
        let max_scale = _mm256_max_ps(_mm256_max_ps(sx, sy), sz);
        let (txtz_raw, tytz_raw) = (_mm256_div_ps(tx, tz), _mm256_div_ps(ty, tz));
        let txtz = clamp(txtz_raw, -self.lim_x_neg, self.lim_x_pos);
        let tytz = clamp(tytz_raw, -self.lim_y_neg, self.lim_y_pos);
        let s2 = sq(max_scale);
        let one = splat(1.0);
        let var = |f: f32, j: __m256| {
            let fz = _mm256_div_ps(splat(f), tz);
            let v = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(fz, fz), _mm256_add_ps(one, sq(j))), s2);
            _mm256_add_ps(v, splat(DILATION_PX2))
        };
        let ext = |v: __m256| _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(_mm256_mul_ps(two_l, v)), splat(1.01)), one);
        let (ext_x, ext_y) = (ext(var(self.fx, txtz)), ext(var(self.fy, tytz)));
        let cmx = _mm256_add_ps(_mm256_mul_ps(splat(self.fx), txtz_raw), splat(self.cx));
        let cmy = _mm256_add_ps(_mm256_mul_ps(splat(self.fy), tytz_raw), splat(self.cy));
        let lt = |a: __m256, b: f32| _mm256_cmp_ps::<_CMP_LT_OQ>(a, splat(b));
        let gt = |a: __m256, b: f32| _mm256_cmp_ps::<_CMP_GT_OQ>(a, splat(b));
        let off = _mm256_or_ps(
            _mm256_or_ps(lt(_mm256_add_ps(cmx, ext_x), 0.5), gt(_mm256_sub_ps(cmx, ext_x), self.width - 0.5)),
            _mm256_or_ps(lt(_mm256_add_ps(cmy, ext_y), 0.5), gt(_mm256_sub_ps(cmy, ext_y), self.height - 0.5)),
        );
        fate.culled_unless(_mm256_andnot_ps(off, all_lanes()));
        if fate.all_decided() {
            return self.finish(g, &idx, &fate, None, out);
        }

        // Σ = R·S·Sᵀ·Rᵀ (see `covariance_3d`).
        let inv = _mm256_div_ps(one, _mm256_sqrt_ps(qn2));
        let (w, x, y, z) =
            (_mm256_mul_ps(qw, inv), _mm256_mul_ps(qx, inv), _mm256_mul_ps(qy, inv), _mm256_mul_ps(qz, inv));
        let two = splat(2.0);
        let m2 = |a: __m256, b: __m256| _mm256_mul_ps(a, b);
        let one_minus = |a: __m256, b: __m256| _mm256_sub_ps(one, _mm256_mul_ps(two, _mm256_add_ps(a, b)));
        let twice = |v: __m256| _mm256_mul_ps(two, v);
        let rq = [
            [
                one_minus(m2(y, y), m2(z, z)),
                twice(_mm256_sub_ps(m2(x, y), m2(w, z))),
                twice(_mm256_add_ps(m2(x, z), m2(w, y))),
            ],
            [
                twice(_mm256_add_ps(m2(x, y), m2(w, z))),
                one_minus(m2(x, x), m2(z, z)),
                twice(_mm256_sub_ps(m2(y, z), m2(w, x))),
            ],
            [
                twice(_mm256_sub_ps(m2(x, z), m2(w, y))),
                twice(_mm256_add_ps(m2(y, z), m2(w, x))),
                one_minus(m2(x, x), m2(y, y)),
            ],
        ];
        let sc = [sx, sy, sz];
        let m: [[__m256; 3]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| m2(rq[i][j], sc[j])));
        let cov3: [[__m256; 3]; 3] = std::array::from_fn(|i| {
            std::array::from_fn(|j| dot3(m[i][0], m[j][0], m[i][1], m[j][1], m[i][2], m[j][2]))
        });

        // J·W·Σ·Wᵀ·Jᵀ (see `covariance_2d`).
        let tz2 = m2(tz, tz);
        let j00 = _mm256_div_ps(splat(self.fx), tz);
        let j02 = _mm256_div_ps(m2(splat(-self.fx), m2(txtz, tz)), tz2);
        let j11 = _mm256_div_ps(splat(self.fy), tz);
        let j12 = _mm256_div_ps(m2(splat(-self.fy), m2(tytz, tz)), tz2);
        let row_t = |j: __m256, jz: __m256, row: usize| -> [__m256; 3] {
            std::array::from_fn(|k| _mm256_add_ps(m2(j, splat(r[row][k])), m2(jz, splat(r[2][k]))))
        };
        let t0 = row_t(j00, j02, 0);
        let t1 = row_t(j11, j12, 1);
        let mul = |t: &[__m256; 3]| -> [__m256; 3] {
            std::array::from_fn(|i| dot3(cov3[i][0], t[0], cov3[i][1], t[1], cov3[i][2], t[2]))
        };
        let (s0, s1) = (mul(&t0), mul(&t1));
        let cov_a = dot3(t0[0], s0[0], t0[1], s0[1], t0[2], s0[2]);
        let cov_b = dot3(t0[0], s1[0], t0[1], s1[1], t0[2], s1[2]);
        let cov_c = dot3(t1[0], s1[0], t1[1], s1[1], t1[2], s1[2]);
        fate.invalid_unless(and3(finite(cov_a), finite(cov_b), finite(cov_c)));
        let a = _mm256_add_ps(cov_a, splat(DILATION_PX2));
        let c = _mm256_add_ps(cov_c, splat(DILATION_PX2));
        let b = cov_b;
        let det = _mm256_sub_ps(m2(a, c), m2(b, b));
        fate.invalid_unless(_mm256_and_ps(gt0(det), finite(det)));
        let det_inv = _mm256_div_ps(one, det);
        let conic_a = m2(c, det_inv);
        let conic_b = m2(_mm256_xor_ps(b, splat(-0.0)), det_inv); // −b, sign of zero included
        let conic_c = m2(a, det_inv);
        fate.invalid_unless(and3(finite(conic_a), finite(conic_b), finite(conic_c)));
        let mean_x = _mm256_add_ps(_mm256_div_ps(m2(splat(self.fx), tx), tz), splat(self.cx));
        let mean_y = _mm256_add_ps(_mm256_div_ps(m2(splat(self.fy), ty), tz), splat(self.cy));
        fate.invalid_unless(_mm256_and_ps(finite(mean_x), finite(mean_y)));

        // The reference's 3σ rectangle (see `inria_rect`).
        let mid = m2(splat(0.5), _mm256_add_ps(a, c));
        let lambda_max =
            _mm256_add_ps(mid, _mm256_sqrt_ps(_mm256_max_ps(_mm256_sub_ps(m2(mid, mid), det), splat(0.1))));
        let radius = _mm256_round_ps::<{ _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC }>(m2(
            splat(3.0),
            _mm256_sqrt_ps(lambda_max),
        ));
        let ts = TILE_SIZE as f32;
        let (px, py) = (_mm256_sub_ps(mean_x, splat(0.5)), _mm256_sub_ps(mean_y, splat(0.5)));
        let lo = |p: __m256, n: u32| trunc_clamp(_mm256_div_ps(_mm256_sub_ps(p, radius), splat(ts)), n);
        let hi = |p: __m256, n: u32| {
            let v = _mm256_sub_ps(_mm256_add_ps(_mm256_add_ps(p, radius), splat(ts)), one);
            trunc_clamp(_mm256_div_ps(v, splat(ts)), n)
        };
        let rect = [lo(px, self.tiles_x), lo(py, self.tiles_y), hi(px, self.tiles_x), hi(py, self.tiles_y)];
        let rect_ok = _mm256_castsi256_ps(_mm256_and_si256(
            _mm256_cmpgt_epi32(rect[2], rect[0]),
            _mm256_cmpgt_epi32(rect[3], rect[1]),
        ));
        fate.culled_unless(_mm256_and_ps(finite(radius), rect_ok));

        // The α ≥ 1/255 box and its tiles, intersected with the rectangle (see `alpha_tiles`).
        let alpha_ext = |v: __m256| _mm256_add_ps(m2(_mm256_sqrt_ps(m2(two_l, v)), splat(1.001)), splat(0.01));
        let (alpha_ext_x, alpha_ext_y) = (alpha_ext(a), alpha_ext(c));
        let half = splat(0.5);
        let ceil0 =
            |v: __m256| _mm256_max_ps(_mm256_round_ps::<{ _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC }>(v), zero);
        let floor_max = |v: __m256, max: f32| {
            _mm256_min_ps(_mm256_round_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(v), splat(max))
        };
        let u0 = ceil0(_mm256_sub_ps(_mm256_sub_ps(mean_x, alpha_ext_x), half));
        let u1 = floor_max(_mm256_sub_ps(_mm256_add_ps(mean_x, alpha_ext_x), half), self.width - 1.0);
        let v0 = ceil0(_mm256_sub_ps(_mm256_sub_ps(mean_y, alpha_ext_y), half));
        let v1 = floor_max(_mm256_sub_ps(_mm256_add_ps(mean_y, alpha_ext_y), half), self.height - 1.0);
        let box_ok = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(u1, u0), _mm256_cmp_ps::<_CMP_GE_OQ>(v1, v0));
        // Only lanes with `box_ok` use these: then every value is in [0, image size), so exact.
        let tile = |v: __m256| _mm256_srli_epi32::<4>(_mm256_cvttps_epi32(_mm256_max_ps(v, zero)));
        let one_i = _mm256_set1_epi32(1);
        let tiles = [
            _mm256_max_epi32(rect[0], tile(u0)),
            _mm256_max_epi32(rect[1], tile(v0)),
            _mm256_min_epi32(rect[2], _mm256_add_epi32(tile(u1), one_i)),
            _mm256_min_epi32(rect[3], _mm256_add_epi32(tile(v1), one_i)),
        ];
        let tiles_ok = _mm256_castsi256_ps(_mm256_and_si256(
            _mm256_cmpgt_epi32(tiles[2], tiles[0]),
            _mm256_cmpgt_epi32(tiles[3], tiles[1]),
        ));
        fate.culled_unless(_mm256_and_ps(box_ok, tiles_ok));

        let lanes = Lanes {
            mean_x: store(mean_x),
            mean_y: store(mean_y),
            conic: [store(conic_a), store(conic_b), store(conic_c)],
            opacity: opacity_a,
            depth_m: store(tz),
            alpha_ext: [store(alpha_ext_x), store(alpha_ext_y)],
            two_l: store(two_l),
            tiles: [store_i(tiles[0]), store_i(tiles[1]), store_i(tiles[2]), store_i(tiles[3])],
        };
        self.finish(g, &idx, &fate, Some(&lanes), out)
    }

    /// The per-lane fates; the colour (and its finiteness check) and record of the lanes still visible.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn finish(
        &self,
        g: &Gaussians,
        idx: &[usize; L],
        fate: &Outcome,
        lanes: Option<&Lanes>,
        out: &mut [Splat2D],
    ) -> [Fate; L] {
        let decided = _mm256_movemask_ps(fate.decided);
        let invalid = _mm256_movemask_ps(fate.invalid);
        std::array::from_fn(|l| {
            if invalid >> l & 1 == 1 {
                return Fate::Invalid;
            }
            let (Some(v), false) = (lanes, decided >> l & 1 == 1) else {
                return Fate::Culled;
            };
            let Some(color) = self.color(g, idx[l]) else {
                return Fate::Invalid;
            };
            out[l] = Splat2D {
                mean_x: v.mean_x[l],
                mean_y: v.mean_y[l],
                conic_a: v.conic[0][l],
                conic_b: v.conic[1][l],
                conic_c: v.conic[2][l],
                opacity: v.opacity[l],
                color,
                depth_m: v.depth_m[l],
                alpha_ext_x: v.alpha_ext[0][l],
                alpha_ext_y: v.alpha_ext[1][l],
                log2_opacity: log2_opacity(v.two_l[l]),
                tile_x0: v.tiles[0][l] as u32,
                tile_y0: v.tiles[1][l] as u32,
                tile_x1: v.tiles[2][l] as u32,
                tile_y1: v.tiles[3][l] as u32,
            };
            Fate::Visible
        })
    }
}

/// The lanes' results, stored for the per-lane records.
struct Lanes {
    mean_x: [f32; L],
    mean_y: [f32; L],
    conic: [[f32; L]; 3],
    opacity: [f32; L],
    depth_m: [f32; L],
    alpha_ext: [[f32; L]; 2],
    two_l: [f32; L],
    tiles: [[i32; L]; 4],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_wide_projection_is_bit_identical_to_the_scalar_one() {
        if !worldflow_base::cpu::has_avx2() {
            println!("no AVX2 on this CPU: nothing to compare");
            return;
        }
        // SAFETY: AVX2 support checked above.
        let project =
            |ctx: &ProjectCtx, g: &Gaussians, base: usize, out: &mut [Splat2D]| unsafe { ctx.project8(g, base, out) };
        super::super::lane_check::assert_lanes_match_scalar(project);
    }
}
