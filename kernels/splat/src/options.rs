//! Render options and the per-compat constants.
//!
//! # Pixel convention (both modes)
//! worldflow's convention (see `worldflow_protocol::geometry`): pixel `(u, v)` covers `[u, u+1) × [v, v+1)`,
//! its centre is `(u + 0.5, v + 0.5)` in the coordinates where `K` applies. A Gaussian's projected mean is
//! `(fx·x/z + cx, fy·y/z + cy)` and it is evaluated at pixel centres. This is gsplat's convention.
//!
//! The Inria rasterizer instead maps NDC to pixels with `((ndc + 1)·W − 1)/2` and evaluates at integer
//! pixel coordinates; its mean is `fx·x/z + W/2 − 0.5`, i.e. exactly ours shifted by −0.5 on both axes
//! with `cx = W/2, cy = H/2`. [`Compat::Inria`] therefore equals the Inria renderer whenever the camera's
//! principal point is centred (Inria cannot express any other); for an off-centre principal point we use
//! `cx, cy` as given. Inria's tile rectangle (`getRect`) is computed in its own coordinates
//! (our mean − 0.5), so tile coverage matches it bit for bit.
//!
//! The tangent clamp: `x/z` is clamped to `[−(cx/fx + 0.3·W/(2fx)), (W−cx)/fx + 0.3·W/(2fx)]` (and the same
//! for y), which is Inria's `±1.3·tan(fov_x/2)` when the principal point is centred.

use crate::ground::Ground;

/// Tile edge in pixels (both modes).
pub const TILE_SIZE: u32 = 16;

/// Which reference renderer to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compat {
    /// graphdeco-inria/diff-gaussian-rasterization: near cull `z ≤ 0.2`, 3σ square extent
    /// (`ceil(3·√λ_max)`), α clamp 0.99, stop when `T·(1−α) < 1e-4`.
    #[default]
    Inria,
    /// gsplat 1.5 (`rasterize_mode="classic"`): near cull `z < 0.01`, opacity-aware per-axis extent
    /// `ceil(min(3.33, √(2·ln(255·o)))·√Σ'ᵢᵢ)`, Gaussians with `o < 1/255` culled, α clamp 0.999,
    /// stop when `T·(1−α) ≤ 1e-4`.
    Gsplat,
}

/// Options of [`crate::Renderer`] and [`crate::render_naive`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderOptions {
    pub compat: Compat,
    /// Added as `T·background` to every pixel (any values, not clamped): the sky colour when `ground` is set.
    pub background: [f32; 3],
    /// An infinite ground plane under the sky (`None`: the uniform `background` everywhere).
    pub ground: Option<Ground>,
    /// Caps the SH degree used (`None`: the scene's degree).
    pub sh_degree: Option<u8>,
    /// Mip/antialiased mode: keep the 0.3 dilation but scale opacity by `√(det/det_dilated)`.
    pub antialiased: bool,
    /// View distance: Gaussians whose mean lies farther than this along the camera's view axis (`z` in camera
    /// coordinates, metres) are not drawn, and the index skips whole regions beyond it, so a camera's cost
    /// stops growing with the world past this distance. An approximation (what lies beyond shows the
    /// background, ground and sky); `None`: no limit, the exact image.
    pub max_depth_m: Option<f32>,
}

/// What a camera culls by depth: the compat mode's near plane and the options' view distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DepthCull {
    pub compat: Compat,
    /// `max_depth_m`, or `+∞`.
    pub far_z: f32,
}

impl RenderOptions {
    /// The depth cull these options ask for.
    pub fn depth_cull(&self) -> DepthCull {
        DepthCull { compat: self.compat, far_z: self.max_depth_m.unwrap_or(f32::INFINITY) }
    }
}

impl From<Compat> for DepthCull {
    /// The compat mode's near plane, no view distance.
    fn from(compat: Compat) -> Self {
        DepthCull { compat, far_z: f32::INFINITY }
    }
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            compat: Compat::Inria,
            background: [0.0; 3],
            ground: None,
            sh_degree: None,
            antialiased: false,
            max_depth_m: None,
        }
    }
}

/// Constants that differ between the compat modes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompatParams {
    pub alpha_max: f32,
    /// `true` (gsplat): stop when `T·(1−α) ≤ 1e-4`; `false` (Inria): when `< 1e-4`.
    pub stop_inclusive: bool,
}

pub(crate) const ALPHA_MIN: f32 = 1.0 / 255.0;
/// `log₂ 255 = −log₂ ALPHA_MIN`.
pub(crate) const LOG2_255: f32 = 7.994_353_4;
pub(crate) const T_STOP: f32 = 1e-4;
pub(crate) const DILATION_PX2: f32 = 0.3;
pub(crate) const INRIA_NEAR_Z: f32 = 0.2;
pub(crate) const GSPLAT_NEAR_Z: f32 = 0.01;
pub(crate) const GSPLAT_FAR_Z: f32 = 1e10;

impl Compat {
    pub(crate) fn params(self) -> CompatParams {
        match self {
            Compat::Inria => CompatParams { alpha_max: 0.99, stop_inclusive: false },
            Compat::Gsplat => CompatParams { alpha_max: 0.999, stop_inclusive: true },
        }
    }
}
