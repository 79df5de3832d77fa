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
//!
//! **Module layering** (lowest first; a module uses only modules listed before it, never one after):
//! 1. `grid` (semantic voxel grid), `footprint` (ground rectangles, [`Obstacle`]), `metrics`, `trajectory`;
//! 2. `flow` (flow fields) and `body` ([`RigidBody`]) on the grid; `rigid_flow` (flow of moving bodies);
//! 3. `scenario` (parsing and range checks), then `town` (the static town of a scenario);
//! 4. `roads` (road network, path pieces), `vehicle` (vehicle kinds, motion along pieces), `intersection`
//!    (right of way, swept paths), `pedestrians` (walkways, walkers), then `traffic`;
//! 5. `collision` (swept tests against the town and bodies), `ego` ([`EgoState`], the bicycle and
//!    free-camera egos), `bounds` (the world box), `drone` (the quadrotor ego), `agent` (the [`Ego`] of any
//!    kind), `formation` (drone slots and their set-points), `rig` (cameras);
//! 6. `scenario_checks` (what needs the town: spawns, capacity; scenario files), `director` (the
//!    [`Director`] trait and its output), then `procedural` ([`ProceduralDirector`]);
//! 7. `appearance`, `pedestrian_appearance`, `drone_appearance`, then `actor` (Gaussians from the Director's output).

mod actor;
mod agent;
mod appearance;
mod body;
mod bounds;
mod collision;
mod director;
mod drone;
mod drone_appearance;
mod ego;
mod flow;
mod footprint;
mod formation;
mod grid;
mod intersection;
mod metrics;
mod pedestrian_appearance;
mod pedestrians;
mod procedural;
mod rig;
mod rigid_flow;
mod roads;
mod scenario;
mod scenario_checks;
mod setpoint;
mod town;
mod traffic;
mod trajectory;
mod vehicle;

pub use actor::{covariance, Actor, ActorConfig, ActorError, ActorStats, CovarianceUpdate, DYNAMIC_ID_BASE};
pub use agent::Ego;
pub use body::{body_rotation, RigidBody, EGO_BODY_ID_BASE};
pub use bounds::{BoundaryGuard, BoundaryWarning, WorldBounds, MAX_ALTITUDE_M};
pub use collision::{
    blocked_at, sweep, CollisionGuard, CollisionWarning, Hit, Surroundings, Sweep, CONTACT_RELEASE_TICKS,
};
pub use director::{Director, DirectorError, DirectorOutput, MAX_DT_SECS};
pub use drone::{DroneEgo, DroneParams, DronePhase, LAND_MAX_HORIZONTAL_MPS, TAKEOFF_SPEED_MPS};
pub use ego::{BicycleEgo, BicycleParams, EgoError, EgoState, FreeCameraEgo, PoseDelta, VehicleControl};
pub use flow::{BoundFlow, DenseFlowIndex, FlowCell, FlowError, FlowField, FlowSampler};
pub use footprint::{Footprint, Obstacle};
pub use formation::{
    slot_command, Formation, FormationError, FormationPhase, Shape, MAX_PHASES, POSITION_GAIN_PER_S, YAW_GAIN_PER_S,
};
pub use grid::{CellChange, GridError, GridSpec, SemanticClass, SemanticGrid, MAX_CELLS};
pub use intersection::Conflicts;
pub use metrics::{psnr, ssim, MetricsError, RgbImage};
pub use pedestrians::{Corner, Crowd, Leg, Pedestrian, Walkways, PEDESTRIAN_HALF_EXTENT_M, PEDESTRIAN_ID_BASE};
pub use procedural::ProceduralDirector;
pub use rig::{Rig, RigCamera, RigError, RigPreset, SURROUND_BACK_FOV_X_DEG, SURROUND_FOV_X_DEG};
pub use rigid_flow::{flow_between, rigid_flow, FLOW_BAND_CELLS};
pub use roads::{Dir, PathPose, Piece, Roads};
pub use scenario::{EgoKind, EgoSpawn, Scenario, ScenarioError, TownConfig, TrafficConfig};
pub use setpoint::{car_control_for_ackermann, car_control_for_velocity, free_camera_delta_for_velocity};
pub use town::{Building, Town, Tree};
pub use traffic::Traffic;
pub use trajectory::{out_and_back, LoopError, LoopSpec, LoopTrajectory};
pub use vehicle::{Vehicle, VehicleKind};
pub use worldflow_base::rng::{hash64, SplitMix64};
