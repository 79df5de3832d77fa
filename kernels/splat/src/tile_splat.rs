//! The per-Gaussian records of the tile blending kernel: [`SplatBlend`] (the depth-sorted array the tile
//! gather reads) and [`TileSplat`] (what the row loop reads, copied per tile). Shared by `tile_sets.rs`
//! (which gathers them) and `blend.rs` (which blends them); depends on neither.

use crate::project::Splat2D;

const LOG2E: f32 = std::f32::consts::LOG2_E;

/// Blend-time data of one Gaussian (depth-sorted array, 44 bytes): what the row loop reads, plus the box
/// the tile gather needs.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SplatBlend {
    pub splat: TileSplat,
    /// Half-extents (pixels, padded) of the box outside which `α < 1/255`.
    pub alpha_ext_x: f32,
    pub alpha_ext_y: f32,
}

/// What the row loop reads of one Gaussian (copied per tile into a compact, L1-resident array). The power
/// is kept in base 2: `log₂e·power = dx·(pa·dx + pb·dy) + pc·dy²`, and `α = 2^(log₂e·power + log₂ o)`.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct TileSplat {
    pub mean_x: f32,
    pub mean_y: f32,
    /// `−½·log₂e·a`, `−log₂e·b`, `−½·log₂e·c` of the conic `(a, b, c)`.
    pub pa: f32,
    pub pb: f32,
    pub pc: f32,
    pub log2_opacity: f32,
    pub color: [f32; 3],
}

impl SplatBlend {
    pub(crate) fn new(s: &Splat2D) -> Self {
        Self {
            splat: TileSplat {
                mean_x: s.mean_x,
                mean_y: s.mean_y,
                pa: -0.5 * LOG2E * s.conic_a,
                pb: -LOG2E * s.conic_b,
                pc: -0.5 * LOG2E * s.conic_c,
                log2_opacity: s.log2_opacity,
                color: s.color,
            },
            alpha_ext_x: s.alpha_ext_x,
            alpha_ext_y: s.alpha_ext_y,
        }
    }
}
