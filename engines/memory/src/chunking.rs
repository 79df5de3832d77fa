//! One latent per action tick, four latents per chunk: groups the encoder's dual actions into chunks.
//!
//! Shared by the memory-retriever and the dit-engine so that both agree on which ticks form chunk `k`
//! (latents `4k..4k+3` = action ticks `4k..4k+3`). Ticks must arrive consecutively from 0 for one agent: a
//! gap means an action was dropped on the way (the edge needs `queue_policy: backpressure`), and the latent
//! indices the memory hands out would no longer match the generator's history, so it is an error.

use glam::Mat4;
use worldflow_protocol::{mat4_from_rows, validate_rigid, Action, GeometryError};

/// Latents per chunk (WorldPlay, Wan causal chunks).
pub const CHUNK_LATENTS: usize = 4;

/// An action that cannot condition a latent, or that arrives out of step; names the tick (or agent).
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ChunkError {
    #[error(
        "action of tick {tick} has no `label`: wire the action-encoder's dual `action` output, not the sensors' \
         raw action"
    )]
    NoLabel { tick: u64 },
    #[error("action of tick {tick} has no `world_from_camera`: wire the action-encoder's dual `action` output")]
    NoPose { tick: u64 },
    #[error("action of tick {tick}: {source}")]
    BadPose {
        tick: u64,
        #[source]
        source: GeometryError,
    },
    #[error("action of agent {agent} after actions of agent {first_agent}: one node instance serves one agent")]
    OtherAgent { agent: u32, first_agent: u32 },
    #[error(
        "action of tick {tick} arrived when tick {expected} was expected: ticks must be consecutive from 0 (was \
         an action dropped? give this input `queue_policy: backpressure`)"
    )]
    TickGap { tick: u64, expected: u64 },
}

/// What a latent is conditioned on: its tick, its 81-way action label and its camera pose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatentCond {
    pub agent_id: u32,
    pub tick: u64,
    pub sim_time_ns: u64,
    pub label: u8,
    pub world_from_camera: Mat4,
}

impl LatentCond {
    /// From a dual action (the action-encoder's `action` output: label and pose filled in).
    pub fn from_action(a: &Action) -> Result<Self, ChunkError> {
        let tick = a.meta.tick;
        let label = a.label.ok_or(ChunkError::NoLabel { tick })?;
        let rows = a.world_from_camera.ok_or(ChunkError::NoPose { tick })?;
        let world_from_camera = mat4_from_rows(&rows);
        validate_rigid(&world_from_camera, "world_from_camera")
            .map_err(|source| ChunkError::BadPose { tick, source })?;
        Ok(Self { agent_id: a.meta.agent_id, tick, sim_time_ns: a.meta.sim_time_ns, label, world_from_camera })
    }
}

/// A complete chunk of latent conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub index: u64,
    pub latents: Vec<LatentCond>,
}

impl Chunk {
    pub fn first_latent(&self) -> u64 {
        self.index * CHUNK_LATENTS as u64
    }
}

/// Accumulates latent conditions into chunks of [`CHUNK_LATENTS`].
#[derive(Debug, Default)]
pub struct ChunkAccumulator {
    agent_id: Option<u32>,
    next_tick: u64,
    pending: Vec<LatentCond>,
}

impl ChunkAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next latent; returns the chunk it completes, if any.
    pub fn push(&mut self, c: LatentCond) -> Result<Option<Chunk>, ChunkError> {
        match self.agent_id {
            Some(first_agent) if first_agent != c.agent_id => {
                return Err(ChunkError::OtherAgent { agent: c.agent_id, first_agent })
            }
            _ => self.agent_id = Some(c.agent_id),
        }
        if c.tick != self.next_tick {
            return Err(ChunkError::TickGap { tick: c.tick, expected: self.next_tick });
        }
        self.next_tick += 1;
        self.pending.push(c);
        if self.pending.len() < CHUNK_LATENTS {
            return Ok(None);
        }
        let latents = std::mem::take(&mut self.pending);
        Ok(Some(Chunk { index: latents[0].tick / CHUNK_LATENTS as u64, latents }))
    }

    /// The latents of the chunk being filled, oldest first.
    pub fn pending(&self) -> &[LatentCond] {
        &self.pending
    }

    /// Latents received that do not yet form a chunk (dropped at the end of a run).
    pub fn incomplete(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use worldflow_protocol::{mat4_to_rows, ChunkMeta};

    pub fn cond(tick: u64) -> LatentCond {
        LatentCond {
            agent_id: 0,
            tick,
            sim_time_ns: tick * 100,
            label: 9,
            world_from_camera: Mat4::from_translation(glam::Vec3::Z * tick as f32),
        }
    }

    #[test]
    fn four_consecutive_ticks_make_a_chunk() {
        let mut acc = ChunkAccumulator::new();
        let mut chunks = vec![];
        for t in 0..10 {
            if let Some(c) = acc.push(cond(t)).unwrap() {
                chunks.push(c);
            }
        }
        assert_eq!(chunks.len(), 2);
        assert_eq!((chunks[0].index, chunks[1].index, chunks[1].first_latent()), (0, 1, 4));
        assert_eq!(chunks[1].latents.iter().map(|l| l.tick).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
        assert_eq!(acc.incomplete(), 2);
    }

    #[test]
    fn gaps_and_agent_changes_are_errors() {
        let mut acc = ChunkAccumulator::new();
        acc.push(cond(0)).unwrap();
        let e = acc.push(cond(2)).unwrap_err().to_string();
        assert!(e.contains("tick 2") && e.contains("tick 1") && e.contains("backpressure"), "{e}");
        let mut acc = ChunkAccumulator::new();
        acc.push(cond(0)).unwrap();
        let mut other = cond(1);
        other.agent_id = 3;
        assert!(acc.push(other).unwrap_err().to_string().contains("agent 3"));
    }

    #[test]
    fn raw_actions_without_label_or_pose_are_rejected() {
        let mut a = Action { meta: ChunkMeta { agent_id: 0, tick: 5, sim_time_ns: 0 }, ..Default::default() };
        assert!(LatentCond::from_action(&a).unwrap_err().to_string().contains("label"));
        a.label = Some(9);
        assert!(LatentCond::from_action(&a).unwrap_err().to_string().contains("world_from_camera"));
        a.world_from_camera = Some(mat4_to_rows(&Mat4::from_scale(glam::Vec3::splat(2.0))));
        assert!(LatentCond::from_action(&a).unwrap_err().to_string().contains("tick 5"));
        a.world_from_camera = Some(mat4_to_rows(&Mat4::IDENTITY));
        assert_eq!(LatentCond::from_action(&a).unwrap().label, 9);
    }
}
