//! Director–Actor world: a semantic voxel **Director** (the built-in seeded procedural town with traffic)
//! and the Gaussian **Actor** that turns voxels into persistent, flow-advected 3D Gaussians.
//!
//! Pure logic, no runtime: nodes wrap it. The pose convention is worldflow's (see
//! [`worldflow_protocol::geometry`]): world z up, metres; cameras OpenCV; transforms named `a_from_b`.
//!
//! ```text
//! Scenario ──▶ ProceduralDirector ──step(dt, egos)──▶ DirectorOutput { changes, flow, bodies }
//!                                                          │
//!                      Actor::new(grid) ──step(grid, out)──▶ &Gaussians (static prefix + dynamic suffix)
//! Ego: BicycleEgo / FreeCameraEgo ──▶ world_from_base ──Rig──▶ world_from_camera (4 cameras)
//! ```

mod actor;
mod appearance;
mod bounds;
mod director;
mod ego;
mod flow;
mod footprint;
mod grid;
mod intersection;
mod metrics;
mod pedestrian_appearance;
mod pedestrians;
mod rig;
mod scenario;
mod town;
mod traffic;
mod trajectory;

pub use actor::{covariance, Actor, ActorConfig, ActorError, ActorStats, CovarianceUpdate, DYNAMIC_ID_BASE};
pub use bounds::{BoundaryGuard, BoundaryWarning, WorldBounds, MAX_ALTITUDE_M};
pub use director::{
    body_rotation, rigid_flow, Director, DirectorError, DirectorOutput, ProceduralDirector, RigidBody,
    EGO_BODY_ID_BASE, FLOW_BAND_CELLS, MAX_DT_SECS,
};
pub use ego::{BicycleEgo, BicycleParams, Ego, EgoError, EgoState, FreeCameraEgo, PoseDelta, VehicleControl};
pub use flow::{BoundFlow, DenseFlowIndex, FlowCell, FlowField, FlowSampler};
pub use footprint::Footprint;
pub use grid::{CellChange, GridSpec, SemanticClass, SemanticGrid, MAX_CELLS};
pub use intersection::Conflicts;
pub use metrics::{psnr, ssim, MetricsError, RgbImage};
pub use pedestrians::{Corner, Crowd, Leg, Pedestrian, Walkways, PEDESTRIAN_HALF_EXTENT_M, PEDESTRIAN_ID_BASE};
pub use rig::{Rig, RigCamera, RigError};
pub use scenario::{EgoKind, EgoSpawn, Scenario, ScenarioError, TownConfig, TrafficConfig};
pub use town::{Building, Town, Tree};
pub use traffic::{Dir, Piece, Roads, Traffic, Vehicle, VehicleKind};
pub use trajectory::{out_and_back, LoopSpec, LoopTrajectory};
pub use worldflow_base::rng::{hash64, SplitMix64};

/// Inverse of an affine rigid `Mat4` (rotation + translation), without a general 4×4 inverse.
pub(crate) fn rigid_inverse_affine(m: &glam::Mat4) -> glam::Mat4 {
    worldflow_protocol::rigid_inverse(m)
}
