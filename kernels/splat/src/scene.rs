//! Loading a scene by file extension: `.ply` (Inria), `.splat` (antimatter15), `.npz` (a coloured point
//! cloud in gsplat's test-garden layout, turned into Gaussians by the 3DGS initialisation).

use std::path::Path;

use worldflow_protocol::Gaussians;

use crate::error::SplatError;
use crate::init::{gaussians_from_point_cloud, PointCloudInit};
use crate::npz::GardenScene;
use crate::ply::read_ply;
use crate::splat_file::read_splat;

/// Loads `.ply`, `.splat` or `.npz`; `init` is used for point clouds only.
pub fn load_scene(path: &Path, init: &PointCloudInit) -> Result<Gaussians, SplatError> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("ply") => read_ply(path),
        Some("splat") => read_splat(path),
        Some("npz") => {
            let scene = GardenScene::read(path)?;
            let colors: Vec<[f32; 3]> = scene.colors.iter().map(|c| c.map(|v| v as f32 / 255.0)).collect();
            gaussians_from_point_cloud(&scene.points, &colors, init)
        }
        _ => Err(SplatError::format(
            &path.display().to_string(),
            "unknown scene extension: expected .ply, .splat or .npz",
        )),
    }
}
