//! 3D Gaussian splatting: a CPU rasterizer and scene I/O (.ply, .splat, point clouds, .npy/.npz).
//!
//! The rasterizer reproduces the original 3DGS (Inria) forward pass ([`Compat::Inria`], the default) or
//! gsplat 1.5's ([`Compat::Gsplat`]); see `docs` in [`options`] for the pixel convention and every
//! difference between the two. Entry points:
//!
//! * [`Renderer::render`] — the optimised path (rayon over tile rows, SIMD-friendly blending, buffers reused
//!   between frames so steady state does not allocate).
//! * [`IndexedScene`] with [`Renderer::render_indexed`] / [`Renderer::render_many`] — a Gaussian set with a
//!   spatial index (static part once, dynamic part per tick): a camera projects only what can reach its
//!   frustum and skips what finished tiles hide; many cameras of one scene render in parallel. Images are
//!   bit-identical to [`Renderer::render`]'s (counts too with frustum culling only; occlusion culling counts
//!   the Gaussians it skipped as culled).
//! * [`render_naive`] — the straightforward scalar port, kept for comparison and tests.
//! * [`load_scene`] — `.ply` / `.splat` / `.npz` (point cloud) by extension; [`write_npy_f32`] for images.
//!
//! Invariants: rendering never panics on degenerate Gaussians (they are dropped and counted in
//! [`RenderStats`]), never writes NaN pixels, and is bit-identical across runs and rayon thread counts.

#![allow(
    clippy::neg_cmp_op_on_partial_ord,
    reason = "NaN guards are written `!(x > 0.0)` on purpose (NaN fails them); see module headers"
)]

mod bin;
mod blend;
mod error;
mod exp2;
mod ground;
mod image;
mod index;
mod indexed_scene;
mod init;
mod naive;
mod npy;
mod npz;
mod options;
mod ply;
mod project;
mod renderer;
mod scene;
mod sh;
mod sort;
mod splat_file;
mod tile_sets;
mod tile_splat;

pub use error::SplatError;
pub use ground::Ground;
pub use image::Image;
pub use index::SceneIndex;
pub use indexed_scene::IndexedScene;
pub use init::{gaussians_from_point_cloud, knn_rms_distance, PointCloudInit};
pub use naive::{render_naive, render_naive_counted, PixelPairs};
pub use npy::{parse_npy, read_npy, write_npy_f32, NpyArray, NpyData};
pub use npz::{parse_npz, read_npz, GardenScene};
pub use options::{Compat, DepthCull, RenderOptions, TILE_SIZE};
pub use ply::{read_ply, read_ply_bytes, write_ply, write_ply_bytes};
pub use renderer::{RenderStats, Renderer, MAX_FRAME_BYTES};
pub use scene::load_scene;
pub use splat_file::{read_splat, read_splat_bytes};
