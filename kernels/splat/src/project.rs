//! Per-Gaussian preprocessing: view transform, near cull, EWA projection with 0.3 px² dilation, conic,
//! screen extent and tile rectangle, SH colour.
//!
//! Invariants of a [`Splat2D`] returned as [`Projected::Visible`]: every field is finite, the conic is
//! positive definite (`a > 0`, `a·c − b² > 0`), `opacity ∈ [1/255, ∞)` after the Mip factor, colour ≥ 0,
//! `depth > 0`, and the tile rectangle is non-empty and inside the tile grid. Guards are written so that
//! NaN fails them (`!(x > 0)` rather than `x <= 0`).
//!
//! For the renderer's default mode (Inria, not antialiased; [`ProjectCtx::has_wide_projection`]) the
//! renderer projects several Gaussians at a time, selected at run time: 8 with AVX2 (`project/x8.rs`,
//! `cpu::has_avx2()`) on x86-64, 4 with NEON (`project/neon.rs`, `cpu::has_neon()`) on aarch64; both
//! repeat [`ProjectCtx::project`] operation for operation and are tested bit-identical to it
//! (`project/lane_check.rs`). Other modes, other CPUs and the chunk tails use the scalar projection.

use glam::{Quat, Vec3};
use worldflow_protocol::{Camera, Gaussians};

use crate::options::{
    Compat, DepthCull, ALPHA_MIN, DILATION_PX2, GSPLAT_FAR_Z, GSPLAT_NEAR_Z, INRIA_NEAR_Z, LOG2_255, TILE_SIZE,
};
use crate::sh::eval_sh;

#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(target_arch = "x86_64")]
mod x8;

/// A projected Gaussian, ready to blend.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Splat2D {
    /// Mean in pixels, worldflow convention (pixel centres at `u + 0.5`).
    pub mean_x: f32,
    pub mean_y: f32,
    /// Inverse of the dilated 2D covariance: `power = −½(a·dx² + c·dy²) − b·dx·dy`.
    pub conic_a: f32,
    pub conic_b: f32,
    pub conic_c: f32,
    /// Opacity (times the Mip factor when antialiased).
    pub opacity: f32,
    pub color: [f32; 3],
    /// View-space z, metres (sort key).
    pub depth_m: f32,
    /// Half-extents in pixels of the region where `α ≥ 1/255` can hold (slightly padded).
    pub alpha_ext_x: f32,
    pub alpha_ext_y: f32,
    /// `log₂(opacity)`, from the same `ln` as the α box (the blender computes `α = 2^(power₂ + log₂ o)`).
    pub log2_opacity: f32,
    /// Tile rectangle `[x0, x1) × [y0, y1)` in tile units.
    pub tile_x0: u32,
    pub tile_y0: u32,
    pub tile_x1: u32,
    pub tile_y1: u32,
}

/// Outcome of projecting one Gaussian.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Projected {
    Visible(Splat2D),
    /// Legitimately not drawn (behind the near plane, off screen, too transparent).
    Culled,
    /// Degenerate input (non-finite values, zero quaternion, non-positive scale) or numerics that
    /// overflowed; dropped and counted.
    Invalid,
}

/// What became of one Gaussian (without its record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Fate {
    Visible = 0,
    Culled = 1,
    Invalid = 2,
}

/// Camera-derived constants shared by every Gaussian of a frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProjectCtx {
    /// Rows of the rotation part of `camera_from_world`, and its translation.
    rot: [[f32; 3]; 3],
    trans: [f32; 3],
    fx: f32,
    fy: f32,
    cx: f32,
    cy: f32,
    lim_x_pos: f32,
    lim_x_neg: f32,
    lim_y_pos: f32,
    lim_y_neg: f32,
    camera_centre_world: Vec3,
    width: f32,
    height: f32,
    pub tiles_x: u32,
    pub tiles_y: u32,
    compat: Compat,
    /// Gaussians with a view depth beyond this are culled (`+∞`: none).
    far_z: f32,
    antialiased: bool,
    pub sh_degree: u8,
}

impl ProjectCtx {
    pub fn new(camera: &Camera, cull: DepthCull, antialiased: bool, sh_degree: u8) -> Self {
        let DepthCull { compat, far_z } = cull;
        let m = camera.camera_from_world;
        let row = |r: usize| [m.col(0)[r], m.col(1)[r], m.col(2)[r]];
        let k = camera.intrinsics;
        let (w, h) = (camera.width as f32, camera.height as f32);
        let tan_fov_x = 0.5 * w / k.fx;
        let tan_fov_y = 0.5 * h / k.fy;
        Self {
            rot: [row(0), row(1), row(2)],
            trans: [m.w_axis.x, m.w_axis.y, m.w_axis.z],
            fx: k.fx,
            fy: k.fy,
            cx: k.cx,
            cy: k.cy,
            lim_x_pos: (w - k.cx) / k.fx + 0.3 * tan_fov_x,
            lim_x_neg: k.cx / k.fx + 0.3 * tan_fov_x,
            lim_y_pos: (h - k.cy) / k.fy + 0.3 * tan_fov_y,
            lim_y_neg: k.cy / k.fy + 0.3 * tan_fov_y,
            camera_centre_world: camera.centre_in_world(),
            width: w,
            height: h,
            tiles_x: camera.width.div_ceil(TILE_SIZE),
            tiles_y: camera.height.div_ceil(TILE_SIZE),
            compat,
            far_z,
            antialiased,
            sh_degree,
        }
    }

    /// Whether the lane-parallel projections (`project8_at` with AVX2, `project4_at` with NEON) apply to
    /// this context: they implement the renderer's default mode only (Inria, not antialiased).
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    pub(crate) fn has_wide_projection(&self) -> bool {
        self.compat == Compat::Inria && !self.antialiased
    }

    /// Projects Gaussian `i` of `g` (whose SH stride is `g.coeffs_per_gaussian()`).
    #[inline(always)]
    pub fn project(&self, g: &Gaussians, i: usize) -> Projected {
        let mean = g.means[i];
        let scale = g.scales[i];
        let q = g.rotations[i];
        let opacity = g.opacities[i];
        if !(mean.is_finite() && scale.is_finite() && opacity.is_finite()) {
            return Projected::Invalid;
        }
        if !(scale.x > 0.0 && scale.y > 0.0 && scale.z > 0.0) {
            return Projected::Invalid;
        }
        let qn2 = quat_norm2(q);
        if !(qn2 > 0.0 && qn2.is_finite()) {
            return Projected::Invalid;
        }

        // View-space mean.
        let r = &self.rot;
        let tx = r[0][0] * mean.x + r[0][1] * mean.y + r[0][2] * mean.z + self.trans[0];
        let ty = r[1][0] * mean.x + r[1][1] * mean.y + r[1][2] * mean.z + self.trans[1];
        let tz = r[2][0] * mean.x + r[2][1] * mean.y + r[2][2] * mean.z + self.trans[2];
        if !(tx.is_finite() && ty.is_finite() && tz.is_finite()) {
            return Projected::Invalid;
        }
        let in_depth_range = match self.compat {
            Compat::Inria => tz > INRIA_NEAR_Z,
            Compat::Gsplat => (GSPLAT_NEAR_Z..=GSPLAT_FAR_Z).contains(&tz),
        };
        if !(in_depth_range && tz <= self.far_z) {
            return Projected::Culled;
        }

        // Opacity below 1/255 can never reach the α threshold: exact cull in both modes.
        if !(opacity >= ALPHA_MIN) {
            return Projected::Culled;
        }

        // Cheap conservative off-screen cull before any covariance work (exact result either way).
        // 2·ln(255·o): the α ≥ 1/255 region is dᵀ·conic·d ≤ two_l (before the Mip factor, which only
        // lowers the opacity, so the cull below stays conservative).
        let two_l_raw = 2.0 * (opacity / ALPHA_MIN).ln().max(0.0);
        if self.surely_off_screen(tx, ty, tz, scale.x.max(scale.y).max(scale.z), two_l_raw) {
            return Projected::Culled;
        }

        let cov3 = covariance_3d(q, qn2, scale);
        let (cov_a, cov_b, cov_c) = match self.covariance_2d(tx, ty, tz, &cov3) {
            Some(c) => c,
            None => return Projected::Invalid,
        };
        let det_orig = cov_a * cov_c - cov_b * cov_b;
        let a = cov_a + DILATION_PX2;
        let c = cov_c + DILATION_PX2;
        let b = cov_b;
        let det = a * c - b * b;
        if !(det > 0.0 && det.is_finite()) {
            return Projected::Invalid;
        }
        let det_inv = 1.0 / det;
        let conic_a = c * det_inv;
        let conic_b = -b * det_inv;
        let conic_c = a * det_inv;
        if !(conic_a.is_finite() && conic_b.is_finite() && conic_c.is_finite()) {
            return Projected::Invalid;
        }

        let opacity = if self.antialiased { opacity * (det_orig / det).max(0.0).sqrt() } else { opacity };
        if !(opacity >= ALPHA_MIN) {
            return Projected::Culled;
        }

        let mean_x = self.fx * tx / tz + self.cx;
        let mean_y = self.fy * ty / tz + self.cy;
        if !(mean_x.is_finite() && mean_y.is_finite()) {
            return Projected::Invalid;
        }

        let rect = match self.compat {
            Compat::Inria => self.inria_rect(mean_x, mean_y, a, b, c, det),
            Compat::Gsplat => self.gsplat_rect(mean_x, mean_y, a, c, opacity),
        };
        let Some([tile_x0, tile_y0, tile_x1, tile_y1]) = rect else {
            return Projected::Culled;
        };

        // Region where opacity·exp(power) ≥ 1/255: dᵀ·conic·d ≤ 2·ln(255·o); its bounding box has
        // half-extents √(2·ln(255·o)·Σ'ᵢᵢ). Padded so rounding never excludes a contributing pixel.
        let two_l = if self.antialiased { 2.0 * (opacity / ALPHA_MIN).ln().max(0.0) } else { two_l_raw };
        let alpha_ext_x = (two_l * a).sqrt() * 1.001 + 0.01;
        let alpha_ext_y = (two_l * c).sqrt() * 1.001 + 0.01;
        // Bin only into tiles that hold a pixel centre inside that box (the reference's rectangle is
        // larger by about a quarter of its tile instances); pixels outside it would skip this Gaussian.
        let Some([tile_x0, tile_y0, tile_x1, tile_y1]) =
            self.alpha_tiles(mean_x, mean_y, alpha_ext_x, alpha_ext_y).and_then(|[x0, y0, x1, y1]| {
                let r = [tile_x0.max(x0), tile_y0.max(y0), tile_x1.min(x1), tile_y1.min(y1)];
                (r[2] > r[0] && r[3] > r[1]).then_some(r)
            })
        else {
            return Projected::Culled;
        };

        let Some(color) = self.color(g, i) else {
            return Projected::Invalid;
        };

        Projected::Visible(Splat2D {
            mean_x,
            mean_y,
            conic_a,
            conic_b,
            conic_c,
            opacity,
            color,
            depth_m: tz,
            alpha_ext_x,
            alpha_ext_y,
            log2_opacity: log2_opacity(two_l),
            tile_x0,
            tile_y0,
            tile_x1,
            tile_y1,
        })
    }

    /// Colour of Gaussian `i`: SH along the world-space viewing direction, +0.5, clamped at ≥ 0; `None`
    /// if not finite.
    #[inline(always)]
    fn color(&self, g: &Gaussians, i: usize) -> Option<[f32; 3]> {
        let k = g.coeffs_per_gaussian();
        // Degree 0 does not depend on the direction.
        let dir = if self.sh_degree == 0 { Vec3::Z } else { (g.means[i] - self.camera_centre_world).normalize() };
        let sh = eval_sh(self.sh_degree, &g.sh[i * k..(i + 1) * k], dir);
        // Checked before the clamp: `f32::max` would turn NaN into 0.
        sh.iter().all(|v| v.is_finite()).then(|| sh.map(|v| (v + 0.5).max(0.0)))
    }

    /// `J·W·Σ·Wᵀ·Jᵀ` (undilated) as `(Σ'00, Σ'01, Σ'11)`, with the tangent clamp applied to J.
    #[inline(always)]
    fn covariance_2d(&self, tx: f32, ty: f32, tz: f32, cov3: &[[f32; 3]; 3]) -> Option<(f32, f32, f32)> {
        let txtz = (tx / tz).clamp(-self.lim_x_neg, self.lim_x_pos);
        let tytz = (ty / tz).clamp(-self.lim_y_neg, self.lim_y_pos);
        let cx = txtz * tz;
        let cy = tytz * tz;
        let j00 = self.fx / tz;
        let j02 = -self.fx * cx / (tz * tz);
        let j11 = self.fy / tz;
        let j12 = -self.fy * cy / (tz * tz);
        let r = &self.rot;
        // T = J·W (2×3).
        let t0 = [j00 * r[0][0] + j02 * r[2][0], j00 * r[0][1] + j02 * r[2][1], j00 * r[0][2] + j02 * r[2][2]];
        let t1 = [j11 * r[1][0] + j12 * r[2][0], j11 * r[1][1] + j12 * r[2][1], j11 * r[1][2] + j12 * r[2][2]];
        let mul = |t: &[f32; 3]| -> [f32; 3] {
            [
                cov3[0][0] * t[0] + cov3[0][1] * t[1] + cov3[0][2] * t[2],
                cov3[1][0] * t[0] + cov3[1][1] * t[1] + cov3[1][2] * t[2],
                cov3[2][0] * t[0] + cov3[2][1] * t[1] + cov3[2][2] * t[2],
            ]
        };
        let s0 = mul(&t0);
        let s1 = mul(&t1);
        let a = t0[0] * s0[0] + t0[1] * s0[1] + t0[2] * s0[2];
        let b = t0[0] * s1[0] + t0[1] * s1[1] + t0[2] * s1[2];
        let c = t1[0] * s1[0] + t1[1] * s1[1] + t1[2] * s1[2];
        (a.is_finite() && b.is_finite() && c.is_finite()).then_some((a, b, c))
    }

    /// Inria's `getRect` with the 3σ radius, in Inria pixel coordinates (our mean − 0.5).
    #[inline(always)]
    fn inria_rect(&self, mean_x: f32, mean_y: f32, a: f32, b: f32, c: f32, det: f32) -> Option<[u32; 4]> {
        let _ = b;
        let mid = 0.5 * (a + c);
        let lambda_max = mid + (mid * mid - det).max(0.1).sqrt();
        let radius = (3.0 * lambda_max.sqrt()).ceil();
        if !radius.is_finite() {
            return None;
        }
        let (px, py) = (mean_x - 0.5, mean_y - 0.5);
        let ts = TILE_SIZE as f32;
        // Float → int truncation as in C (`as` saturates, NaN → 0), then clamp to [0, grid].
        let clamp = |v: f32, n: u32| -> u32 { (v as i64).clamp(0, n as i64) as u32 };
        let x0 = clamp((px - radius) / ts, self.tiles_x);
        let y0 = clamp((py - radius) / ts, self.tiles_y);
        let x1 = clamp((px + radius + ts - 1.0) / ts, self.tiles_x);
        let y1 = clamp((py + radius + ts - 1.0) / ts, self.tiles_y);
        (x1 > x0 && y1 > y0).then_some([x0, y0, x1, y1])
    }

    /// True if the α ≥ 1/255 box of this Gaussian certainly holds no pixel centre of the image, so that
    /// [`Self::alpha_tiles`] would return `None`. Bounds the dilated 2D variance along x by
    /// `‖row 0 of J·W‖²·s²_max + 0.3 = (fx/tz)²·(1 + (tx/tz)²_clamped)·s²_max + 0.3` (W is a rotation, so
    /// the row norm is that of J's row; Σ's largest eigenvalue is `s²_max`), likewise along y, and pads
    /// by 1 % and one pixel for rounding.
    #[inline(always)]
    fn surely_off_screen(&self, tx: f32, ty: f32, tz: f32, max_scale: f32, two_l: f32) -> bool {
        let txtz = tx / tz;
        let tytz = ty / tz;
        let (jx, jy) = (txtz.clamp(-self.lim_x_neg, self.lim_x_pos), tytz.clamp(-self.lim_y_neg, self.lim_y_pos));
        let s2 = max_scale * max_scale;
        let var_x = (self.fx / tz) * (self.fx / tz) * (1.0 + jx * jx) * s2 + DILATION_PX2;
        let var_y = (self.fy / tz) * (self.fy / tz) * (1.0 + jy * jy) * s2 + DILATION_PX2;
        let ext_x = (two_l * var_x).sqrt() * 1.01 + 1.0;
        let ext_y = (two_l * var_y).sqrt() * 1.01 + 1.0;
        let mean_x = self.fx * txtz + self.cx;
        let mean_y = self.fy * tytz + self.cy;
        // Written so that NaN never culls (the exact path decides those).
        mean_x + ext_x < 0.5
            || mean_x - ext_x > self.width - 0.5
            || mean_y + ext_y < 0.5
            || mean_y - ext_y > self.height - 0.5
    }

    /// Tiles `[x0, x1) × [y0, y1)` holding a pixel centre `(u + ½, v + ½)` inside the box
    /// `|x − mean_x| ≤ ext_x, |y − mean_y| ≤ ext_y`; `None` if no pixel centre of the image is inside.
    #[inline(always)]
    fn alpha_tiles(&self, mean_x: f32, mean_y: f32, ext_x: f32, ext_y: f32) -> Option<[u32; 4]> {
        let u0 = (mean_x - ext_x - 0.5).ceil().max(0.0);
        let u1 = (mean_x + ext_x - 0.5).floor().min(self.width - 1.0);
        let v0 = (mean_y - ext_y - 0.5).ceil().max(0.0);
        let v1 = (mean_y + ext_y - 0.5).floor().min(self.height - 1.0);
        if !(u1 >= u0 && v1 >= v0) {
            return None;
        }
        // Finite and inside the image here (NaN fails the test above), so the conversions are exact.
        Some([u0 as u32 / TILE_SIZE, v0 as u32 / TILE_SIZE, u1 as u32 / TILE_SIZE + 1, v1 as u32 / TILE_SIZE + 1])
    }

    /// gsplat 1.5's opacity-aware per-axis radius, image-overlap test and tile range.
    #[inline(always)]
    fn gsplat_rect(&self, mean_x: f32, mean_y: f32, a: f32, c: f32, opacity: f32) -> Option<[u32; 4]> {
        let extend = 3.33f32.min((2.0 * (opacity / ALPHA_MIN).ln()).sqrt());
        let radius_x = (extend * a.sqrt()).ceil();
        let radius_y = (extend * c.sqrt()).ceil();
        if !(radius_x > 0.0 || radius_y > 0.0) {
            return None;
        }
        if mean_x + radius_x <= 0.0
            || mean_x - radius_x >= self.width
            || mean_y + radius_y <= 0.0
            || mean_y - radius_y >= self.height
        {
            return None;
        }
        let ts = TILE_SIZE as f32;
        let (tile_x, tile_y) = (mean_x / ts, mean_y / ts);
        let (trx, try_) = (radius_x / ts, radius_y / ts);
        let clamp = |v: f32, n: u32| -> u32 { (v.max(0.0) as i64).min(n as i64) as u32 };
        let x0 = clamp((tile_x - trx).floor(), self.tiles_x);
        let x1 = clamp((tile_x + trx).ceil(), self.tiles_x);
        let y0 = clamp((tile_y - try_).floor(), self.tiles_y);
        let y1 = clamp((tile_y + try_).ceil(), self.tiles_y);
        (x1 > x0 && y1 > y0).then_some([x0, y0, x1, y1])
    }
}

/// `log₂ o` from `two_l = 2·ln(255·o)`: `½·two_l·log₂e − log₂ 255`.
#[inline(always)]
fn log2_opacity(two_l: f32) -> f32 {
    0.5 * two_l * std::f32::consts::LOG2_E - LOG2_255
}

/// `‖q‖²`, summed in a fixed order (the 8-wide projection repeats it operation for operation).
#[inline(always)]
fn quat_norm2(q: Quat) -> f32 {
    q.w * q.w + q.x * q.x + q.y * q.y + q.z * q.z
}

/// `Σ = R·S·Sᵀ·Rᵀ` from a (not necessarily unit, but non-zero) quaternion with `‖q‖² = qn2` and linear
/// scales.
#[inline(always)]
fn covariance_3d(q: Quat, qn2: f32, scale: Vec3) -> [[f32; 3]; 3] {
    let inv = 1.0 / qn2.sqrt();
    let (w, x, y, z) = (q.w * inv, q.x * inv, q.y * inv, q.z * inv);
    let r = [
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - w * z), 2.0 * (x * z + w * y)],
        [2.0 * (x * y + w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - w * x)],
        [2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y)],
    ];
    let s = [scale.x, scale.y, scale.z];
    // M = R·S (column j scaled by s_j); Σ = M·Mᵀ.
    let mut m = [[0.0f32; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = r[i][j] * s[j];
        }
    }
    let mut cov = [[0.0f32; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            cov[i][j] = m[i][0] * m[j][0] + m[i][1] * m[j][1] + m[i][2] * m[j][2];
        }
    }
    cov
}

#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod lane_check;
