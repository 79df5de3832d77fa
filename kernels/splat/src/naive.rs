//! The straightforward scalar port of the reference forward pass, kept for comparison and tests:
//! single-threaded, allocating, 64-bit `tile << 32 | depth` keys with a stable comparison sort, and the
//! per-pixel loop exactly as the reference writes it (libm `exp`, no early-out tricks).

use worldflow_protocol::{Camera, Gaussians};

use crate::error::SplatError;
use crate::ground::background_image;
use crate::image::Image;
use crate::options::{RenderOptions, ALPHA_MIN, TILE_SIZE, T_STOP};
use crate::project::{ProjectCtx, Projected};
use crate::renderer::{validate_inputs, RenderStats};

/// Renders like [`crate::Renderer::render`], slowly. Results agree with it to float rounding (≈1e-6).
pub fn render_naive(
    gaussians: &Gaussians,
    camera: &Camera,
    options: &RenderOptions,
    image: &mut Image,
) -> Result<RenderStats, SplatError> {
    render_naive_counted(gaussians, camera, options, image).map(|(stats, _)| stats)
}

/// The (pixel, Gaussian) pairs of a frame: those the naive loop evaluated (every entry of the pixel's tile
/// list until the pixel terminated) and those blended (composited: `α ≥ 1/255` before termination). The
/// blended pairs are the work any renderer of the same image must do; the rest is what binning lets through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PixelPairs {
    pub evaluated: u64,
    pub blended: u64,
}

/// [`render_naive`] that also counts the frame's (pixel, Gaussian) pairs.
pub fn render_naive_counted(
    gaussians: &Gaussians,
    camera: &Camera,
    options: &RenderOptions,
    image: &mut Image,
) -> Result<(RenderStats, PixelPairs), SplatError> {
    let mut pairs = PixelPairs::default();
    let sh_degree = validate_inputs(gaussians, camera, options)?;
    let ctx = ProjectCtx::new(camera, options.depth_cull(), options.antialiased, sh_degree);
    let mut stats = RenderStats { input: gaussians.len(), ..Default::default() };
    let mut splats = Vec::new();
    for i in 0..gaussians.len() {
        match ctx.project(gaussians, i) {
            Projected::Visible(s) => splats.push(s),
            Projected::Culled => stats.culled += 1,
            Projected::Invalid => stats.invalid += 1,
        }
    }
    stats.visible = splats.len();

    let mut keys: Vec<(u64, u32)> = Vec::new();
    for (i, s) in splats.iter().enumerate() {
        for ty in s.tile_y0..s.tile_y1 {
            for tx in s.tile_x0..s.tile_x1 {
                let tile = (ty * ctx.tiles_x + tx) as u64;
                keys.push((tile << 32 | s.depth_m.to_bits() as u64, i as u32));
            }
        }
    }
    keys.sort_by_key(|k| k.0);
    stats.tile_instances = keys.len();

    let params = options.compat.params();
    let (w, h) = (camera.width, camera.height);
    image.resize(w, h);
    let mut background = Vec::new();
    if let Some(ground) = &options.ground {
        background_image(camera, options.background, ground, &mut background);
    }
    let mut start = 0;
    for tile in 0..(ctx.tiles_x * ctx.tiles_y) as u64 {
        let mut end = start;
        while end < keys.len() && keys[end].0 >> 32 == tile {
            end += 1;
        }
        let list = &keys[start..end];
        start = end;
        let tx = (tile % ctx.tiles_x as u64) as u32;
        let ty = (tile / ctx.tiles_x as u64) as u32;
        for v in ty * TILE_SIZE..((ty + 1) * TILE_SIZE).min(h) {
            for u in tx * TILE_SIZE..((tx + 1) * TILE_SIZE).min(w) {
                let (px, py) = (u as f32 + 0.5, v as f32 + 0.5);
                let mut t = 1.0f32;
                let mut c = [0.0f32; 3];
                for &(_, i) in list {
                    pairs.evaluated += 1;
                    let s = &splats[i as usize];
                    let dx = s.mean_x - px;
                    let dy = s.mean_y - py;
                    let power = -0.5 * (s.conic_a * dx * dx + s.conic_c * dy * dy) - s.conic_b * dx * dy;
                    if power > 0.0 {
                        continue;
                    }
                    let alpha = (s.opacity * power.exp()).min(params.alpha_max);
                    if alpha < ALPHA_MIN {
                        continue;
                    }
                    let test_t = t * (1.0 - alpha);
                    let stop = if params.stop_inclusive { test_t <= T_STOP } else { test_t < T_STOP };
                    if stop {
                        break;
                    }
                    pairs.blended += 1;
                    for (acc, color) in c.iter_mut().zip(s.color) {
                        *acc += color * alpha * t;
                    }
                    t = test_t;
                }
                let o = (v as usize * w as usize + u as usize) * 3;
                let bg = match options.ground {
                    Some(_) => &background[o..o + 3],
                    None => &options.background[..],
                };
                for ((out, acc), bg) in image.data[o..o + 3].iter_mut().zip(c).zip(bg) {
                    *out = acc + t * bg;
                }
            }
        }
    }
    Ok((stats, pairs))
}
