//! The per-chunk memory set of WorldPlay (world-models.md §2) and its temporal reframing.
//!
//! For a history of N latents (one `world_from_camera` pose each) and the poses of the chunk about to
//! be generated (the *query* latents):
//! * N ≤ temporal + memory (20): the context is the whole history;
//! * otherwise: the `temporal_latents` (12) most recent latents, the first chunk (4 latents), and older
//!   clips of `clip_latents` (4, aligned to multiples of 4, entirely before the temporal window and after
//!   the first chunk) ranked by FOV distance, lowest first, until the memory (first chunk + clips) holds
//!   `memory_latents` (8) latents. Clip distance = mean over (query latent q, sampled clip latent s) of
//!   `1 − sim(q, s)` ([`crate::fov`]); ties go to the more recent clip.
//! * Temporal reframing: context latents, in original order, get RoPE time 0..K−1 (gaps collapsed); the
//!   query latents get K..K+n−1.
//!
//! [`MemoryRetriever::select_monte_carlo`] is the reference (all clips, all 50k points per pair, O(N)).
//! [`MemoryRetriever::select`] gives the identical selection and distances: only latents within
//! `2·radius` of a query camera (found through a hash grid) can have `sim > 0`; every other clip has
//! distance exactly 1 and is only needed as a recency-ordered filler. Its cost depends on how many
//! cameras are near the queries, not on N.

use std::collections::BTreeSet;
use std::ops::Range;

use glam::{Mat4, Vec3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use worldflow_protocol::validate_rigid;

use crate::error::{MemoryError, Result};
use crate::fov::{FovConfig, FovSample, RelativeCamera};
use crate::grid::PositionGrid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// Most recent latents always in context (WorldPlay: 12 = 3 chunks).
    pub temporal_latents: usize,
    /// Latents of the first chunk, always in memory (4).
    pub first_chunk_latents: usize,
    /// Memory size in latents: first chunk + retrieved clips (8).
    pub memory_latents: usize,
    /// Length of a retrievable clip in latents (4), clips aligned to multiples of it.
    pub clip_latents: usize,
    /// Every `clip_sample_stride`-th latent of a clip enters its distance (1 = all of them).
    pub clip_sample_stride: usize,
    pub fov: FovConfig,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            temporal_latents: 12,
            first_chunk_latents: 4,
            memory_latents: 8,
            clip_latents: 4,
            clip_sample_stride: 1,
            fov: FovConfig::default(),
        }
    }
}

impl MemoryConfig {
    pub fn validate(&self) -> Result<()> {
        let bad =
            |field: &str, message: &str| Err(MemoryError::Config { field: field.into(), message: message.into() });
        if self.clip_latents == 0 {
            return bad("clip_latents", "must be positive");
        }
        if self.clip_sample_stride == 0 {
            return bad("clip_sample_stride", "must be positive");
        }
        if self.memory_latents < self.first_chunk_latents {
            return bad("memory_latents", "must be ≥ first_chunk_latents");
        }
        if !self.first_chunk_latents.is_multiple_of(self.clip_latents) {
            return bad("first_chunk_latents", "must be a multiple of clip_latents");
        }
        self.fov.validate()
    }

    /// Retrieved clips per chunk: (memory − first chunk) / clip length.
    pub fn spatial_clips(&self) -> usize {
        (self.memory_latents - self.first_chunk_latents) / self.clip_latents
    }
}

/// A retrieved clip: latents `start..start + clip_latents` and its FOV distance (0 = same view).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipScore {
    pub start: usize,
    pub distance: f32,
}

/// The context of one chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct MemorySelection {
    /// Context latent indices into the history, ascending (original order).
    pub context: Vec<usize>,
    /// The temporal window (empty when the whole history is used).
    pub temporal: Range<usize>,
    /// The first chunk (empty when the whole history is used).
    pub first_chunk: Range<usize>,
    /// Retrieved clips, best first.
    pub spatial: Vec<ClipScore>,
    /// RoPE time index of each `context` entry: 0..K−1.
    pub context_rope_time: Vec<u32>,
    /// RoPE time index of each query latent: K..K+n−1.
    pub query_rope_time: Vec<u32>,
}

/// How [`MemoryRetriever::select_impl`] ranks clips (all give the same ranking).
#[derive(Debug, Clone, Copy)]
enum Ranking {
    /// Near clips only (hash grid), [`FovSample::sim`].
    Indexed,
    /// Every clip, every sample point ([`FovSample::sim_monte_carlo`]).
    MonteCarlo,
    /// Near clips only, [`FovSample::sim_pointwise`].
    #[cfg(test)]
    IndexedPointwise,
}

/// Pose history + spatial index; answers "which latents form the context of the next chunk".
#[derive(Debug, Clone)]
pub struct MemoryRetriever {
    cfg: MemoryConfig,
    sample: FovSample,
    poses: Vec<Mat4>,
    grid: PositionGrid,
}

impl MemoryRetriever {
    pub fn new(cfg: MemoryConfig) -> Result<Self> {
        cfg.validate()?;
        let sample = FovSample::new(&cfg.fov)?;
        let grid = PositionGrid::new(sample.cull_distance());
        Ok(Self { cfg, sample, poses: vec![], grid })
    }

    pub fn config(&self) -> &MemoryConfig {
        &self.cfg
    }

    /// Number of latents in the history.
    pub fn len(&self) -> usize {
        self.poses.len()
    }

    pub fn is_empty(&self) -> bool {
        self.poses.is_empty()
    }

    /// Appends the camera pose (`world_from_camera`, rigid) of the next generated latent.
    pub fn push(&mut self, world_from_camera: Mat4) -> Result<()> {
        validate_rigid(&world_from_camera, &format!("history[{}].world_from_camera", self.poses.len()))?;
        let id = u32::try_from(self.poses.len())
            .map_err(|_| MemoryError::Query("history longer than 2^32 latents".into()))?;
        self.grid.insert(world_from_camera.w_axis.truncate(), id);
        self.poses.push(world_from_camera);
        Ok(())
    }

    /// The context for the chunk whose latents have poses `query` (fast, indexed).
    pub fn select(&self, query: &[Mat4]) -> Result<MemorySelection> {
        self.select_impl(query, Ranking::Indexed)
    }

    /// Same result by the published Monte-Carlo procedure over every clip (reference; O(N · 50k)).
    pub fn select_monte_carlo(&self, query: &[Mat4]) -> Result<MemorySelection> {
        self.select_impl(query, Ranking::MonteCarlo)
    }

    /// The indexed selection with the previous per-point similarity ([`FovSample::sim_pointwise`]):
    /// the check of [`Self::select`] on long random trajectories, where the Monte-Carlo reference is
    /// too slow.
    #[cfg(test)]
    pub(crate) fn select_pointwise(&self, query: &[Mat4]) -> Result<MemorySelection> {
        self.select_impl(query, Ranking::IndexedPointwise)
    }

    /// Candidate clip starts, oldest first: aligned, after the first chunk, before the temporal window.
    fn clip_range(&self) -> Range<usize> {
        let (n, c) = (self.poses.len(), self.cfg.clip_latents);
        let first = self.cfg.first_chunk_latents / c;
        let end = n.saturating_sub(self.cfg.temporal_latents) / c; // clips [k·c, (k+1)·c) with (k+1)·c ≤ n − T
        first..end.max(first)
    }

    fn clip_distance(&self, k: usize, queries: &[Mat4], sim: impl Fn(&Mat4, &Mat4) -> f32) -> f32 {
        let c = self.cfg.clip_latents;
        let mut acc = 0.0f64;
        let mut pairs = 0usize;
        for q in queries {
            for s in (k * c..(k + 1) * c).step_by(self.cfg.clip_sample_stride) {
                acc += 1.0 - sim(q, &self.poses[s]) as f64;
                pairs += 1;
            }
        }
        (acc / pairs as f64) as f32
    }

    fn select_impl(&self, query: &[Mat4], ranking: Ranking) -> Result<MemorySelection> {
        if query.is_empty() {
            return Err(MemoryError::Query("no query poses (the chunk to generate needs ≥ 1 latent pose)".into()));
        }
        for (i, q) in query.iter().enumerate() {
            validate_rigid(q, &format!("query[{i}].world_from_camera"))?;
        }
        let n = self.poses.len();
        let cfg = &self.cfg;
        let (context, temporal, first_chunk, spatial) = if n <= cfg.temporal_latents + cfg.memory_latents {
            ((0..n).collect::<Vec<_>>(), 0..0, 0..0, vec![])
        } else {
            let temporal = n - cfg.temporal_latents..n;
            let first_chunk = 0..cfg.first_chunk_latents;
            let want = cfg.spatial_clips();
            let spatial = match ranking {
                Ranking::MonteCarlo => self.rank_monte_carlo(query, want),
                Ranking::Indexed => self.rank_indexed(query, want, |c| self.sample.sim(c)),
                #[cfg(test)]
                Ranking::IndexedPointwise => self.rank_indexed(query, want, |c| self.sample.sim_pointwise(c)),
            };
            let mut set: BTreeSet<usize> = first_chunk.clone().chain(temporal.clone()).collect();
            for clip in &spatial {
                set.extend(clip.start..clip.start + cfg.clip_latents);
            }
            (set.into_iter().collect(), temporal, first_chunk, spatial)
        };
        let k = context.len() as u32;
        Ok(MemorySelection {
            context_rope_time: (0..k).collect(),
            query_rope_time: (k..k + query.len() as u32).collect(),
            context,
            temporal,
            first_chunk,
            spatial,
        })
    }

    /// Order: lower distance first, then the more recent clip.
    fn rank_key(a: &ClipScore, b: &ClipScore) -> std::cmp::Ordering {
        a.distance.total_cmp(&b.distance).then(b.start.cmp(&a.start))
    }

    fn rank_monte_carlo(&self, query: &[Mat4], want: usize) -> Vec<ClipScore> {
        let c = self.cfg.clip_latents;
        let mut scores: Vec<ClipScore> = self
            .clip_range()
            .into_par_iter()
            .map(|k| {
                let d = self.clip_distance(k, query, |q, h| self.sample.sim_monte_carlo(&RelativeCamera::new(q, h)));
                ClipScore { start: k * c, distance: d }
            })
            .collect();
        scores.sort_by(Self::rank_key);
        scores.truncate(want);
        scores
    }

    fn rank_indexed(&self, query: &[Mat4], want: usize, sim: impl Fn(&RelativeCamera) -> f32 + Sync) -> Vec<ClipScore> {
        let c = self.cfg.clip_latents;
        let range = self.clip_range();
        let cull = self.sample.cull_distance();
        // Clips with at least one sampled latent within the cull distance of some query camera.
        let mut near: BTreeSet<usize> = BTreeSet::new();
        for q in query {
            let qp = q.w_axis.truncate();
            self.grid.for_each_near(qp, |id| {
                let id = id as usize;
                let k = id / c;
                if range.contains(&k)
                    && (id - k * c).is_multiple_of(self.cfg.clip_sample_stride)
                    && self.poses[id].w_axis.truncate().distance(qp) <= cull
                {
                    near.insert(k);
                }
            });
        }
        let near: Vec<usize> = near.into_iter().collect();
        let mut scores: Vec<ClipScore> = near
            .par_iter()
            .map(|&k| {
                let d = self.clip_distance(k, query, |q, h| sim(&RelativeCamera::new(q, h)));
                ClipScore { start: k * c, distance: d }
            })
            .filter(|s| s.distance < 1.0)
            .collect();
        scores.sort_by(Self::rank_key);
        scores.truncate(want);
        // Fill with distance-1 clips (every clip not scored below 1), most recent first.
        let chosen: BTreeSet<usize> = scores.iter().map(|s| s.start / c).collect();
        let mut k = range.end;
        while scores.len() < want && k > range.start {
            k -= 1;
            if !chosen.contains(&k) {
                scores.push(ClipScore { start: k * c, distance: 1.0 });
            }
        }
        scores
    }

    /// Camera position of history latent `i` (world frame).
    pub fn position(&self, i: usize) -> Option<Vec3> {
        self.poses.get(i).map(|m| m.w_axis.truncate())
    }
}

#[cfg(test)]
#[path = "retriever_identity_tests.rs"]
mod identity_tests;
