//! The Director's per-tick output as it crosses the wire: what changed in the semantic voxel grid and the rigid
//! bodies. The grid itself is never sent: a consumer builds the static grid from the same scenario and applies
//! the changes. Neither is the flow field `F_{t−1→t}`: it is the bodies' rigid motion between two ticks, so a
//! consumer computes it from this tick's bodies and the previous tick's (`worldflow_world::flow_between`), and a
//! delta stays a few kilobytes however many cells move (the flow was ~140 KB per tick of the default town).

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

/// Everything the Actor needs from one Director tick.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WorldDelta {
    pub meta: ChunkMeta,
    /// Length of the interval covered, seconds (0 at reset).
    pub dt_secs: f32,
    /// (cell index, new class code), ascending index.
    pub changes: Vec<(u32, u8)>,
    /// Ascending id.
    pub bodies: Vec<BodyRecord>,
}
