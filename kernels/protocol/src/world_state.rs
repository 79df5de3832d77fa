//! The Director's per-tick output as it crosses the wire: what changed in the semantic voxel grid, the
//! flow field `F_{t−1→t}` (sparse: only cells that move), and the rigid bodies. The grid itself is never
//! sent: a consumer builds the static grid from the same scenario and applies the changes.

use serde::{Deserialize, Serialize};

use crate::messages::ChunkMeta;

/// One rigid body (vehicle, pedestrian, ego) at this tick.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BodyRecord {
    pub id: u64,
    /// Semantic class code (see `worldflow_world::SemanticClass`).
    pub class: u8,
    /// Row-major `world_from_body` (body frame x forward, y left, z up, origin at the box centre).
    pub world_from_body: [[f32; 4]; 4],
    pub half_extent_m: [f32; 3],
    pub velocity_mps: [f32; 3],
    pub angular_velocity_rps: [f32; 3],
    pub appearance_key: f32,
}

/// `body` of a flow entry that belongs to no rigid body.
pub const NO_BODY: u64 = u64::MAX;

/// Everything the Actor needs from one Director tick.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WorldDelta {
    pub meta: ChunkMeta,
    /// Length of the interval covered, seconds (0 at reset).
    pub dt_secs: f32,
    /// (cell index, new class code), ascending index.
    pub changes: Vec<(u32, u8)>,
    /// (cell index, velocity m/s, id of the body it belongs to or [`NO_BODY`]), ascending (index, body).
    /// Where two bodies' bands overlap a cell has one entry per body.
    pub flow: Vec<(u32, [f32; 3], u64)>,
    /// Ascending id.
    pub bodies: Vec<BodyRecord>,
}
