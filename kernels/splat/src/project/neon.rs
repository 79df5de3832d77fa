//! Four Gaussians at a time with NEON (aarch64): the projection of [`ProjectCtx::project`] for the
//! renderer's default mode (Inria, not antialiased), operation for operation, so both give bit-identical
//! results (tested below, as the AVX2 `x8.rs` is). Every check becomes a lane mask and a lane's outcome
//! is its first failing check, as the scalar early returns; `ln`, the SH colour and the final record
//! stay scalar per lane. Rust never contracts `a·b + c`, and no `vfmaq` is used here, so plain
//! intrinsics reproduce the scalar rounding exactly.
//!
//! Where NEON differs from x86 (and from a naive translation of `x8.rs`):
//! - `f32::max`/`min` compile to `fmaxnm`/`fminnm` on aarch64 (a quiet NaN operand yields the other
//!   one), so the lanes use `vmaxnmq`/`vminnmq`, not `vmaxq`/`vminq` (which propagate NaN).
//! - `vcvtq_s32_f32` truncates toward zero and saturates (NaN → 0), like Rust's `as`: the C truncation
//!   of `inria_rect` needs no bounding in float first.
//! - There is no movemask: "every lane decided" is `vminvq_u32`, and lane flags are read out per lane.

use std::arch::aarch64::*;

use worldflow_protocol::Gaussians;

use super::{log2_opacity, Fate, ProjectCtx, Splat2D};
use crate::options::{ALPHA_MIN, DILATION_PX2, INRIA_NEAR_Z, TILE_SIZE};

/// Lanes per vector.
const L: usize = 4;
/// `u / TILE_SIZE` as a right shift (tile indices of in-image pixel columns and rows).
const TILE_SHIFT: i32 = TILE_SIZE.trailing_zeros() as i32;
const _: () = assert!(TILE_SIZE.is_power_of_two());

type F = float32x4_t;
type M = uint32x4_t;

/// Lanes decided so far, and which of them are invalid (the rest culled).
struct Outcome {
    decided: M,
    invalid: M,
}

impl Outcome {
    /// Lanes where `ok` is false and no earlier check failed become invalid.
    #[inline]
    #[target_feature(enable = "neon")]
    fn invalid_unless(&mut self, ok: M) {
        let fail = vmvnq_u32(ok);
        self.invalid = vorrq_u32(self.invalid, vbicq_u32(fail, self.decided));
        self.decided = vorrq_u32(self.decided, fail);
    }

    /// Lanes where `ok` is false and no earlier check failed are culled.
    #[inline]
    #[target_feature(enable = "neon")]
    fn culled_unless(&mut self, ok: M) {
        self.decided = vorrq_u32(self.decided, vmvnq_u32(ok));
    }

    #[inline]
    #[target_feature(enable = "neon")]
    fn all_decided(&self) -> bool {
        vminvq_u32(self.decided) == u32::MAX
    }
}

#[inline]
#[target_feature(enable = "neon")]
fn splat(v: f32) -> F {
    vdupq_n_f32(v)
}

#[inline]
#[target_feature(enable = "neon")]
fn load(a: [f32; L]) -> F {
    // SAFETY: `a` holds 4 floats; `vld1q_f32` needs no alignment beyond that of f32.
    unsafe { vld1q_f32(a.as_ptr()) }
}

#[inline]
#[target_feature(enable = "neon")]
fn store(v: F) -> [f32; L] {
    let mut a = [0.0; L];
    // SAFETY: `a` holds 4 floats.
    unsafe { vst1q_f32(a.as_mut_ptr(), v) };
    a
}

#[inline]
#[target_feature(enable = "neon")]
fn store_u(v: M) -> [u32; L] {
    let mut a = [0; L];
    // SAFETY: `a` holds 4 u32.
    unsafe { vst1q_u32(a.as_mut_ptr(), v) };
    a
}

/// `x.is_finite()` per lane (`x − x` is 0 exactly for finite `x`, NaN otherwise).
#[inline]
#[target_feature(enable = "neon")]
fn finite(x: F) -> M {
    vceqq_f32(vsubq_f32(x, x), vdupq_n_f32(0.0))
}

#[inline]
#[target_feature(enable = "neon")]
fn and3(a: M, b: M, c: M) -> M {
    vandq_u32(vandq_u32(a, b), c)
}

/// `f32::max` (`fmaxnm`: a NaN operand yields the other one).
#[inline]
#[target_feature(enable = "neon")]
fn max(a: F, b: F) -> F {
    vmaxnmq_f32(a, b)
}

/// `f32::min` (`fminnm`).
#[inline]
#[target_feature(enable = "neon")]
fn min(a: F, b: F) -> F {
    vminnmq_f32(a, b)
}

/// `f32::clamp` for the finite lanes that reach it (NaN lanes are decided before).
#[inline]
#[target_feature(enable = "neon")]
fn clamp(x: F, lo: f32, hi: f32) -> F {
    min(max(x, splat(lo)), splat(hi))
}

/// `(v as i64).clamp(0, n)` (C truncation, NaN → 0). `vcvtq_s32_f32` saturates at the i32 range, whose
/// ends clamp to the same 0 or `n` as the i64 ones.
#[inline]
#[target_feature(enable = "neon")]
fn trunc_clamp(v: F, n: u32) -> int32x4_t {
    vminq_s32(vmaxq_s32(vcvtq_s32_f32(v), vdupq_n_s32(0)), vdupq_n_s32(n as i32))
}

/// `(a·b + c·d) + e·f`.
#[inline]
#[target_feature(enable = "neon")]
fn dot3(a: F, b: F, c: F, d: F, e: F, f: F) -> F {
    vaddq_f32(vaddq_f32(vmulq_f32(a, b), vmulq_f32(c, d)), vmulq_f32(e, f))
}

#[inline]
#[target_feature(enable = "neon")]
fn m2(a: F, b: F) -> F {
    vmulq_f32(a, b)
}

impl ProjectCtx {
    /// [`Self::project`] of Gaussians `base..base + 4` (requires [`Self::has_wide_projection`]): the
    /// fates, and the records of the visible ones in `out[lane]` (`out.len() == 4`; other lanes untouched).
    #[cfg(test)]
    #[target_feature(enable = "neon")]
    pub(crate) fn project4(&self, g: &Gaussians, base: usize, out: &mut [Splat2D]) -> [Fate; L] {
        self.project4_at(g, std::array::from_fn(|l| base + l), out)
    }

    /// [`Self::project`] of the Gaussians `idx` (lane `l`: Gaussian `idx[l]`; requires
    /// [`Self::has_wide_projection`]): the fates, and the records of the visible ones in `out[lane]`.
    #[target_feature(enable = "neon")]
    pub(crate) fn project4_at(&self, g: &Gaussians, idx: [usize; L], out: &mut [Splat2D]) -> [Fate; L] {
        // Gather the lanes' fields (one pass over the 4 Gaussians).
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
        let zero = splat(0.0);
        let mut fate = Outcome { decided: vdupq_n_u32(0), invalid: vdupq_n_u32(0) };

        fate.invalid_unless(vandq_u32(
            and3(finite(mx), finite(my), finite(mz)),
            vandq_u32(and3(finite(sx), finite(sy), finite(sz)), finite(opacity)),
        ));
        let gt0 = |v: F| vcgtq_f32(v, zero);
        fate.invalid_unless(and3(gt0(sx), gt0(sy), gt0(sz)));
        let sq = |v: F| m2(v, v);
        let qn2 = vaddq_f32(vaddq_f32(vaddq_f32(sq(qw), sq(qx)), sq(qy)), sq(qz));
        fate.invalid_unless(vandq_u32(gt0(qn2), finite(qn2)));

        // View-space mean, metres.
        let (r, t) = (&self.rot, &self.trans);
        let view =
            |row: &[f32; 3], t: f32| vaddq_f32(dot3(splat(row[0]), mx, splat(row[1]), my, splat(row[2]), mz), splat(t));
        let (tx, ty, tz) = (view(&r[0], t[0]), view(&r[1], t[1]), view(&r[2], t[2]));
        fate.invalid_unless(and3(finite(tx), finite(ty), finite(tz)));
        fate.culled_unless(vcgtq_f32(tz, splat(INRIA_NEAR_Z)));
        fate.culled_unless(vcleq_f32(tz, splat(self.far_z)));
        fate.culled_unless(vcgeq_f32(opacity, splat(ALPHA_MIN)));
        if fate.all_decided() {
            return self.finish(g, &idx, &fate, None, out);
        }

        // Conservative off-screen cull (see `surely_off_screen`).
        let two_l = load(opacity_a.map(|o| 2.0 * (o / ALPHA_MIN).ln().max(0.0)));
        let max_scale = max(max(sx, sy), sz);
        let (txtz_raw, tytz_raw) = (vdivq_f32(tx, tz), vdivq_f32(ty, tz));
        let txtz = clamp(txtz_raw, -self.lim_x_neg, self.lim_x_pos);
        let tytz = clamp(tytz_raw, -self.lim_y_neg, self.lim_y_pos);
        let s2 = sq(max_scale);
        let one = splat(1.0);
        let var = |f: f32, j: F| {
            let fz = vdivq_f32(splat(f), tz);
            vaddq_f32(m2(m2(m2(fz, fz), vaddq_f32(one, sq(j))), s2), splat(DILATION_PX2))
        };
        let ext = |v: F| vaddq_f32(m2(vsqrtq_f32(m2(two_l, v)), splat(1.01)), one);
        let (ext_x, ext_y) = (ext(var(self.fx, txtz)), ext(var(self.fy, tytz)));
        // Mean in pixels (from the unclamped ratios, as the scalar code).
        let cmx = vaddq_f32(m2(splat(self.fx), txtz_raw), splat(self.cx));
        let cmy = vaddq_f32(m2(splat(self.fy), tytz_raw), splat(self.cy));
        let lt = |a: F, b: f32| vcltq_f32(a, splat(b));
        let gt = |a: F, b: f32| vcgtq_f32(a, splat(b));
        let off = vorrq_u32(
            vorrq_u32(lt(vaddq_f32(cmx, ext_x), 0.5), gt(vsubq_f32(cmx, ext_x), self.width - 0.5)),
            vorrq_u32(lt(vaddq_f32(cmy, ext_y), 0.5), gt(vsubq_f32(cmy, ext_y), self.height - 0.5)),
        );
        fate.culled_unless(vmvnq_u32(off));
        if fate.all_decided() {
            return self.finish(g, &idx, &fate, None, out);
        }

        // Σ = R·S·Sᵀ·Rᵀ (see `covariance_3d`).
        let inv = vdivq_f32(one, vsqrtq_f32(qn2));
        let (w, x, y, z) = (m2(qw, inv), m2(qx, inv), m2(qy, inv), m2(qz, inv));
        let two = splat(2.0);
        let one_minus = |a: F, b: F| vsubq_f32(one, m2(two, vaddq_f32(a, b)));
        let twice = |v: F| m2(two, v);
        let rq = [
            [one_minus(m2(y, y), m2(z, z)), twice(vsubq_f32(m2(x, y), m2(w, z))), twice(vaddq_f32(m2(x, z), m2(w, y)))],
            [twice(vaddq_f32(m2(x, y), m2(w, z))), one_minus(m2(x, x), m2(z, z)), twice(vsubq_f32(m2(y, z), m2(w, x)))],
            [twice(vsubq_f32(m2(x, z), m2(w, y))), twice(vaddq_f32(m2(y, z), m2(w, x))), one_minus(m2(x, x), m2(y, y))],
        ];
        let sc = [sx, sy, sz];
        let m: [[F; 3]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| m2(rq[i][j], sc[j])));
        let cov3: [[F; 3]; 3] = std::array::from_fn(|i| {
            std::array::from_fn(|j| dot3(m[i][0], m[j][0], m[i][1], m[j][1], m[i][2], m[j][2]))
        });

        // J·W·Σ·Wᵀ·Jᵀ (see `covariance_2d`).
        let tz2 = m2(tz, tz);
        let j00 = vdivq_f32(splat(self.fx), tz);
        let j02 = vdivq_f32(m2(splat(-self.fx), m2(txtz, tz)), tz2);
        let j11 = vdivq_f32(splat(self.fy), tz);
        let j12 = vdivq_f32(m2(splat(-self.fy), m2(tytz, tz)), tz2);
        let row_t = |j: F, jz: F, row: usize| -> [F; 3] {
            std::array::from_fn(|k| vaddq_f32(m2(j, splat(r[row][k])), m2(jz, splat(r[2][k]))))
        };
        let t0 = row_t(j00, j02, 0);
        let t1 = row_t(j11, j12, 1);
        let mul = |t: &[F; 3]| -> [F; 3] {
            std::array::from_fn(|i| dot3(cov3[i][0], t[0], cov3[i][1], t[1], cov3[i][2], t[2]))
        };
        let (s0, s1) = (mul(&t0), mul(&t1));
        let cov_a = dot3(t0[0], s0[0], t0[1], s0[1], t0[2], s0[2]);
        let cov_b = dot3(t0[0], s1[0], t0[1], s1[1], t0[2], s1[2]);
        let cov_c = dot3(t1[0], s1[0], t1[1], s1[1], t1[2], s1[2]);
        fate.invalid_unless(and3(finite(cov_a), finite(cov_b), finite(cov_c)));
        let a = vaddq_f32(cov_a, splat(DILATION_PX2));
        let c = vaddq_f32(cov_c, splat(DILATION_PX2));
        let b = cov_b;
        let det = vsubq_f32(m2(a, c), m2(b, b));
        fate.invalid_unless(vandq_u32(gt0(det), finite(det)));
        let det_inv = vdivq_f32(one, det);
        let conic_a = m2(c, det_inv);
        let conic_b = m2(vnegq_f32(b), det_inv); // −b, sign of zero included
        let conic_c = m2(a, det_inv);
        fate.invalid_unless(and3(finite(conic_a), finite(conic_b), finite(conic_c)));
        let mean_x = vaddq_f32(vdivq_f32(m2(splat(self.fx), tx), tz), splat(self.cx));
        let mean_y = vaddq_f32(vdivq_f32(m2(splat(self.fy), ty), tz), splat(self.cy));
        fate.invalid_unless(vandq_u32(finite(mean_x), finite(mean_y)));

        // The reference's 3σ rectangle (see `inria_rect`), in tiles.
        let mid = m2(splat(0.5), vaddq_f32(a, c));
        let lambda_max = vaddq_f32(mid, vsqrtq_f32(max(vsubq_f32(m2(mid, mid), det), splat(0.1))));
        let radius = vrndpq_f32(m2(splat(3.0), vsqrtq_f32(lambda_max))); // ceil
        let ts = TILE_SIZE as f32;
        let (px, py) = (vsubq_f32(mean_x, splat(0.5)), vsubq_f32(mean_y, splat(0.5)));
        let lo = |p: F, n: u32| trunc_clamp(vdivq_f32(vsubq_f32(p, radius), splat(ts)), n);
        let hi = |p: F, n: u32| {
            let v = vsubq_f32(vaddq_f32(vaddq_f32(p, radius), splat(ts)), one);
            trunc_clamp(vdivq_f32(v, splat(ts)), n)
        };
        let rect = [lo(px, self.tiles_x), lo(py, self.tiles_y), hi(px, self.tiles_x), hi(py, self.tiles_y)];
        let rect_ok = vandq_u32(vcgtq_s32(rect[2], rect[0]), vcgtq_s32(rect[3], rect[1]));
        fate.culled_unless(vandq_u32(finite(radius), rect_ok));

        // The α ≥ 1/255 box (pixels) and its tiles, intersected with the rectangle (see `alpha_tiles`).
        let alpha_ext = |v: F| vaddq_f32(m2(vsqrtq_f32(m2(two_l, v)), splat(1.001)), splat(0.01));
        let (alpha_ext_x, alpha_ext_y) = (alpha_ext(a), alpha_ext(c));
        let half = splat(0.5);
        let ceil0 = |v: F| max(vrndpq_f32(v), zero);
        let floor_max = |v: F, hi: f32| min(vrndmq_f32(v), splat(hi));
        let u0 = ceil0(vsubq_f32(vsubq_f32(mean_x, alpha_ext_x), half));
        let u1 = floor_max(vsubq_f32(vaddq_f32(mean_x, alpha_ext_x), half), self.width - 1.0);
        let v0 = ceil0(vsubq_f32(vsubq_f32(mean_y, alpha_ext_y), half));
        let v1 = floor_max(vsubq_f32(vaddq_f32(mean_y, alpha_ext_y), half), self.height - 1.0);
        let box_ok = vandq_u32(vcgeq_f32(u1, u0), vcgeq_f32(v1, v0));
        // Only lanes with `box_ok` use these: then every value is in [0, image size), so exact.
        let tile = |v: F| vreinterpretq_s32_u32(vshlq_u32(vcvtq_u32_f32(v), vdupq_n_s32(-TILE_SHIFT)));
        let one_i = vdupq_n_s32(1);
        let tiles = [
            vmaxq_s32(rect[0], tile(u0)),
            vmaxq_s32(rect[1], tile(v0)),
            vminq_s32(rect[2], vaddq_s32(tile(u1), one_i)),
            vminq_s32(rect[3], vaddq_s32(tile(v1), one_i)),
        ];
        let tiles_ok = vandq_u32(vcgtq_s32(tiles[2], tiles[0]), vcgtq_s32(tiles[3], tiles[1]));
        fate.culled_unless(vandq_u32(box_ok, tiles_ok));

        let store_t = |v: int32x4_t| store_u(vreinterpretq_u32_s32(v));
        let lanes = Lanes {
            mean_x: store(mean_x),
            mean_y: store(mean_y),
            conic: [store(conic_a), store(conic_b), store(conic_c)],
            opacity: opacity_a,
            depth_m: store(tz),
            alpha_ext: [store(alpha_ext_x), store(alpha_ext_y)],
            two_l: store(two_l),
            tiles: [store_t(tiles[0]), store_t(tiles[1]), store_t(tiles[2]), store_t(tiles[3])],
        };
        self.finish(g, &idx, &fate, Some(&lanes), out)
    }

    /// The per-lane fates; the colour (and its finiteness check) and record of the lanes still visible.
    #[inline]
    #[target_feature(enable = "neon")]
    fn finish(
        &self,
        g: &Gaussians,
        idx: &[usize; L],
        fate: &Outcome,
        lanes: Option<&Lanes>,
        out: &mut [Splat2D],
    ) -> [Fate; L] {
        let (decided, invalid) = (store_u(fate.decided), store_u(fate.invalid));
        std::array::from_fn(|l| {
            if invalid[l] != 0 {
                return Fate::Invalid;
            }
            let (Some(v), 0) = (lanes, decided[l]) else {
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
                tile_x0: v.tiles[0][l],
                tile_y0: v.tiles[1][l],
                tile_x1: v.tiles[2][l],
                tile_y1: v.tiles[3][l],
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
    /// Tile rectangle `[x0, x1) × [y0, y1)` (non-negative for visible lanes).
    tiles: [[u32; L]; 4],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_wide_neon_projection_is_bit_identical_to_the_scalar_one() {
        if !worldflow_base::cpu::has_neon() {
            println!("no NEON on this CPU: nothing to compare");
            return;
        }
        // SAFETY: NEON support checked above.
        let project =
            |ctx: &ProjectCtx, g: &Gaussians, base: usize, out: &mut [Splat2D]| unsafe { ctx.project4(g, base, out) };
        super::super::lane_check::assert_lanes_match_scalar(project);
    }
}
