//! An infinite ground plane under a uniform sky: the background of a world that ends.
//!
//! A captured or procedural scene stops somewhere; past its edge a camera would see the flat background
//! colour below the horizon too (the "void"). With [`Ground`], every pixel's background is what its viewing
//! ray meets first: the plane `up·p = height_m` (below the horizon, for an eye above the plane) or the sky
//! (`RenderOptions::background`). The ground fades into the sky colour with distance (aerial perspective:
//! the weight of the ground colour is `exp(−s / haze_m)` at distance `s` along the ray), so the horizon
//! is a soft line at infinity rather than an edge. The background stays behind every Gaussian: it is
//! composited as `T·background(pixel)` exactly like the uniform colour.

use worldflow_protocol::Camera;

use crate::error::SplatError;

/// An infinite ground plane (see the module header).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ground {
    /// The world-frame direction of "up" (the plane's normal, towards the sky); any length but zero.
    /// `[0, 0, 1]` for worldflow's z-up worlds.
    pub up: [f32; 3],
    /// The plane's height along `up` (metres): the points `p` with `up·p / |up| = height_m`.
    pub height_m: f32,
    /// The ground colour (linear RGB, like `background`).
    pub rgb: [f32; 3],
    /// The distance (metres) over which the ground fades to `1/e` of its colour into the sky colour.
    pub haze_m: f32,
}

impl Ground {
    /// Grey-green ground under worldflow's z-up towns, fading over a few hundred metres.
    pub fn town() -> Self {
        Self { up: [0.0, 0.0, 1.0], height_m: 0.0, rgb: [0.33, 0.40, 0.27], haze_m: 300.0 }
    }

    pub(crate) fn validate(&self) -> Result<(), SplatError> {
        let bad = |message: String| SplatError::InvalidInput { what: "render options", message };
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        if !finite(&self.up) || self.up.iter().all(|&x| x == 0.0) {
            return Err(bad(format!("ground.up: expected a finite non-zero direction, found {:?}", self.up)));
        }
        if !self.height_m.is_finite() {
            return Err(bad(format!("ground.height_m: expected a finite height, found {}", self.height_m)));
        }
        if !finite(&self.rgb) {
            return Err(bad(format!("ground.rgb: expected finite values, found {:?}", self.rgb)));
        }
        if !(self.haze_m.is_finite() && self.haze_m > 0.0) {
            return Err(bad(format!("ground.haze_m: expected a positive distance in metres, found {}", self.haze_m)));
        }
        Ok(())
    }
}

/// Fills `out` (`width·height·3`, row-major RGB) with each pixel's background: the ground plane where the
/// pixel-centre ray meets it from above, else `sky`.
///
/// Every pixel of every camera needs its background (a pixel is `C + T·background` and `T` never reaches
/// 0), so this runs over the whole image each frame: a row's ground weights are computed branch-free in
/// a lane-friendly loop (the haze factor with the blend kernel's polynomial [`crate::exp2::exp2_neg`] instead of libm's
/// `exp`), compiled a second time with AVX2 + FMA where the CPU has them. Both builds give the same bits:
/// `exp2_neg` uses `mul_add` exactly where the AVX2 build fuses, and the rest is plain IEEE arithmetic
/// (square root and division included), which Rust never contracts.
pub(crate) fn background_image(camera: &Camera, sky: [f32; 3], ground: &Ground, out: &mut Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    {
        if worldflow_base::cpu::has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe { background_image_avx2(camera, sky, ground, out) };
            return;
        }
    }
    background_image_impl(camera, sky, ground, out);
}

/// [`background_image_impl`] compiled with AVX2 + FMA (8-lane loops; `mul_add` becomes one `vfmadd`).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn background_image_avx2(camera: &Camera, sky: [f32; 3], ground: &Ground, out: &mut Vec<f32>) {
    background_image_impl(camera, sky, ground, out);
}

#[inline(always)]
fn background_image_impl(camera: &Camera, sky: [f32; 3], ground: &Ground, out: &mut Vec<f32>) {
    let (w, h) = (camera.width as usize, camera.height as usize);
    out.clear();
    out.resize(w * h * 3, 0.0);
    let world_from_camera = camera.world_from_camera();
    let up = glam::Vec3::from(ground.up).normalize();
    // The camera's axes and centre, seen along `up`.
    let [x_up, y_up, z_up] = [0, 1, 2].map(|i| up.dot(world_from_camera.col(i).truncate()));
    let eye_height_m = up.dot(world_from_camera.w_axis.truncate()) - ground.height_m;
    let k = camera.intrinsics;
    // `exp(−s / haze) = 2^(−s·log₂e / haze)`: with `s = eye / −rise`, the exponent is `eye·(log₂e/haze) / rise`.
    let exponent_scale = eye_height_m * (std::f32::consts::LOG2_E / ground.haze_m);
    let mix = |t: f32, a: f32, b: f32| a * t + b * (1.0 - t);
    // A row is done in runs of `RUN` pixels: their weights in a stack array (no allocation per frame).
    const RUN: usize = 64;
    let mut weights = [0.0f32; RUN];
    for (v, row) in out.chunks_exact_mut(w * 3).enumerate() {
        let dy = (v as f32 + 0.5 - k.cy) / k.fy;
        let (dy2_1, dy_y) = (dy * dy + 1.0, dy * y_up + z_up);
        for (run, pixels) in row.chunks_mut(RUN * 3).enumerate() {
            let u0 = run * RUN;
            for (j, weight) in weights.iter_mut().enumerate() {
                let dx = ((u0 + j) as f32 + 0.5 - k.cx) / k.fx;
                // The ray `(dx, dy, 1)` in camera axes; its rise along `up` per unit length.
                let len = (dx * dx + dy2_1).sqrt();
                let rise = (dx * x_up + dy_y) / len;
                let sees_ground = eye_height_m > 0.0 && rise < 0.0;
                // Evaluated on every lane, then selected: where `rise ≥ 0` the value is garbage, unused.
                let haze = crate::exp2::exp2_neg(exponent_scale / rise);
                *weight = if sees_ground { haze } else { 0.0 };
            }
            for (px, &ground_weight) in pixels.chunks_exact_mut(3).zip(&weights) {
                for c in 0..3 {
                    px[c] = mix(ground_weight, ground.rgb[c], sky[c]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec3;
    use worldflow_protocol::{rigid_inverse, world_from_camera_look_at, Intrinsics};

    fn level_camera(eye_height_m: f32) -> Camera {
        let eye = Vec3::new(0.0, 0.0, eye_height_m);
        let world_from_camera = world_from_camera_look_at(eye, eye + Vec3::X, Vec3::Z);
        Camera {
            width: 32,
            height: 24,
            intrinsics: Intrinsics::from_fov_x(32, 24, 90f32.to_radians()),
            camera_from_world: rigid_inverse(&world_from_camera),
        }
    }

    #[test]
    fn a_level_camera_sees_sky_above_the_horizon_and_ground_below_it() {
        let sky = [0.5, 0.7, 0.9];
        let ground = Ground { haze_m: 1e6, ..Ground::town() };
        let mut image = Vec::new();
        background_image(&level_camera(1.6), sky, &ground, &mut image);
        let px = |u: usize, v: usize| &image[(v * 32 + u) * 3..(v * 32 + u) * 3 + 3];
        // The horizon of a level camera is the image's middle row (cy = 12): rows 0..12 look up.
        for v in 0..12 {
            assert_eq!(px(5, v), &sky, "row {v}");
        }
        for v in 12..24 {
            let p = px(5, v);
            for c in 0..3 {
                assert!((p[c] - ground.rgb[c]).abs() < 0.01, "row {v}: {p:?}");
            }
        }
    }

    #[test]
    fn the_ground_fades_into_the_sky_with_distance_and_is_absent_from_below() {
        let sky = [1.0, 1.0, 1.0];
        let ground = Ground { rgb: [0.0; 3], haze_m: 10.0, ..Ground::town() };
        let mut image = Vec::new();
        background_image(&level_camera(1.6), sky, &ground, &mut image);
        // Just below the horizon the ground is far away (hazy, bright); at the bottom it is near (dark).
        let near = image[(23 * 32 + 16) * 3];
        let far = image[(12 * 32 + 16) * 3];
        assert!(near < 0.3 && far > 0.9 && far < 1.0, "near {near}, far {far}");
        // An eye below the plane sees only sky.
        background_image(&level_camera(-1.0), sky, &ground, &mut image);
        assert!(image.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn bad_ground_settings_are_named() {
        for (ground, expected) in [
            (Ground { up: [0.0; 3], ..Ground::town() }, "ground.up: expected a finite non-zero direction"),
            (Ground { haze_m: 0.0, ..Ground::town() }, "ground.haze_m: expected a positive distance"),
            (Ground { rgb: [f32::NAN, 0.0, 0.0], ..Ground::town() }, "ground.rgb: expected finite values"),
            (Ground { height_m: f32::INFINITY, ..Ground::town() }, "ground.height_m: expected a finite height"),
        ] {
            let e = ground.validate().unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
        }
    }
}
