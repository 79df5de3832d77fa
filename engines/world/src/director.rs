//! The Director: owns the semantic world state and evolves it tick by tick.
//!
//! [`Director`] is the seam a learned voxel-diffusion Director plugs into: it gets the tick length and the
//! ego agents' states, and answers with a [`DirectorOutput`] — the grid as sparse changes, the flow field
//! `F_{t−1→t}` and, for convenience, the rigid bodies. [`crate::ProceduralDirector`] is the built-in seeded town.
//!
//! Invariants of every output: `changes` ascending by index, applying them to the previous grid gives
//! [`Director::grid`]; `bodies` ascending by id; the flow is sampled at positions of tick `t − 1` and
//! covers the interval `dt_secs` (the procedural Director gives no flow to a body that did not move).

use crate::body::RigidBody;
use crate::ego::EgoState;
use crate::flow::{FlowError, FlowField};
use crate::grid::{CellChange, SemanticGrid};
use crate::scenario::ScenarioError;

/// Longest tick a Director accepts, seconds.
pub const MAX_DT_SECS: f32 = 1.0;

/// What a Director produces per tick.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectorOutput {
    /// Ticks since reset (0 = the state right after reset).
    pub tick: u64,
    pub time_secs: f64,
    /// Length of the interval this output covers (0 at reset).
    pub dt_secs: f32,
    /// Cells whose class changed since the previous output (at reset: since the static town), ascending.
    pub changes: Vec<CellChange>,
    /// `F_{t−1→t}` (empty at reset).
    pub flow: FlowField,
    /// Rigid bodies at this tick, ascending id.
    pub bodies: Vec<RigidBody>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DirectorError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("{field}: {message}")]
    InvalidInput { field: String, message: String },
    /// The flow field of a step could not be built.
    #[error("flow: {0}")]
    Flow(#[from] FlowError),
}

/// A world-state generator. Implementations: [`crate::ProceduralDirector`]; a learned voxel Director later.
pub trait Director {
    /// Restarts the world from a seed; returns the tick-0 output (bodies, the dynamic cells as changes).
    fn reset(&mut self, seed: u64) -> Result<DirectorOutput, DirectorError>;
    /// Advances the world by `dt_secs` (in (0, [`MAX_DT_SECS`]]) given the ego agents' current states.
    fn step(&mut self, dt_secs: f32, egos: &[EgoState]) -> Result<DirectorOutput, DirectorError>;
    /// The current full grid (static town + dynamic cells).
    fn grid(&self) -> &SemanticGrid;
}
