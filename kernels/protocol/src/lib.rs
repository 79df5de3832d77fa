//! worldflow's shared vocabulary: pure geometry (one pose convention, see [`geometry`]), cameras,
//! Gaussian sets, and the message types that travel between nodes.
//!
//! No runtime in here: every crate of the workspace can depend on it cheaply.

pub mod camera_file;
pub mod commands;
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
pub use commands::{AckermannCommand, CommandError, VehicleControl, VelocityCommand};
pub use messages::{Action, ChunkMeta, Encoding, FrameHeader, Keys, StampedPose};

pub mod scripts;
pub use scripts::{parse_drive_script, parse_pose_string, ScriptError};

#[cfg(feature = "dora")]
pub mod arrow_io;

pub mod weights_notice;
pub use weights_notice::WeightsSource;

pub mod world_state;
pub use world_state::{BodyRecord, WorldDelta};
