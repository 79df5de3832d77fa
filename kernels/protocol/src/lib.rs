//! worldflow's shared vocabulary: pure geometry (one pose convention, see [`geometry`]), cameras,
//! Gaussian sets, and the message types that travel between nodes.
//!
//! No runtime in here: every crate of the workspace can depend on it cheaply.

pub mod camera_file;
pub mod gaussians;
pub mod geometry;

pub use camera_file::{parse_camera_json, read_camera_json, CameraFile, CameraFileError};
pub use gaussians::{rgb_to_sh_dc, sh_coeffs_per_gaussian, Gaussians, GaussiansError, SH_C0};
pub use geometry::{
    mat4_from_rows, mat4_to_rows, rigid_inverse, validate_rigid, world_from_camera_look_at, Camera, GeometryError,
    Intrinsics,
};
pub use glam;

pub mod messages;
pub use messages::{Action, ChunkMeta, Encoding, FrameHeader, Keys, StampedPose, VehicleControl};

#[cfg(feature = "dora")]
pub mod arrow_io;

pub mod weights_notice;
pub use weights_notice::WeightsSource;

pub mod world_state;
pub use world_state::{BodyRecord, WorldDelta, NO_BODY};

/// Where a run's files go: a node's `OUT_DIR` setting, else the launcher's `WORLDFLOW_OUT_DIR`, else `out/`.
pub fn output_dir() -> std::path::PathBuf {
    std::env::var("OUT_DIR")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var("WORLDFLOW_OUT_DIR").ok().filter(|v| !v.is_empty()))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("out"))
}
