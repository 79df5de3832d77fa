//! The memory policies a node can run, behind one interface: the history grows one latent pose at a
//! time, and before each chunk the policy names its context ([`MemorySelection`]).

use glam::Mat4;

use crate::error::Result;
use crate::retriever::{MemoryConfig, MemoryRetriever, MemorySelection};
use crate::worldplay::{WorldPlayConfig, WorldPlayRetriever};

/// A pose history and the rule that picks each chunk's context from it.
pub trait ContextPolicy: Send {
    /// Number of latents in the history.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends the camera pose (`world_from_camera`, rigid) of the next generated latent.
    fn push(&mut self, world_from_camera: Mat4) -> Result<()>;
    /// The context of the chunk whose latents have poses `query` (the next `query.len()` latents).
    fn select(&self, query: &[Mat4]) -> Result<MemorySelection>;
}

impl ContextPolicy for MemoryRetriever {
    fn len(&self) -> usize {
        MemoryRetriever::len(self)
    }
    fn push(&mut self, world_from_camera: Mat4) -> Result<()> {
        MemoryRetriever::push(self, world_from_camera)
    }
    fn select(&self, query: &[Mat4]) -> Result<MemorySelection> {
        MemoryRetriever::select(self, query)
    }
}

impl ContextPolicy for WorldPlayRetriever {
    fn len(&self) -> usize {
        WorldPlayRetriever::len(self)
    }
    fn push(&mut self, world_from_camera: Mat4) -> Result<()> {
        WorldPlayRetriever::push(self, world_from_camera)
    }
    fn select(&self, query: &[Mat4]) -> Result<MemorySelection> {
        WorldPlayRetriever::select(self, query)
    }
}

/// Which policy, with its sizes.
#[derive(Debug, Clone, PartialEq)]
pub enum MemoryPolicy {
    /// worldflow's retriever: recent window + first chunk + FOV-ranked clips ([`MemoryRetriever`]).
    Worldflow(MemoryConfig),
    /// HY-WorldPlay's WAN pipeline selection ([`WorldPlayRetriever`]).
    WorldPlay(WorldPlayConfig),
}

impl MemoryPolicy {
    /// A fresh (empty-history) retriever of this policy; the config is validated.
    pub fn build(self) -> Result<Box<dyn ContextPolicy>> {
        Ok(match self {
            Self::Worldflow(cfg) => Box::new(MemoryRetriever::new(cfg)?),
            Self::WorldPlay(cfg) => Box::new(WorldPlayRetriever::new(cfg)?),
        })
    }
}
