//! The memory policy of HY-WorldPlay's WAN pipeline: `select_mem_frames_wan` (wan/models/utils.py) as
//! `wan/inference/pipeline_wan_w_mem_relative_rope.py` drives it (upstream commit `da2d0c26`).
//!
//! For the chunk starting at latent `current` (= history length, a multiple of [`WORLDPLAY_CHUNK_LATENTS`]):
//! * `current == 0`: no context (the first chunk is generated alone);
//! * `0 < current < context_window_length` (16): the whole history `0..current`;
//! * otherwise the context is the `temporal_context_size` (12) most recent latents plus retrieved clips:
//!   - candidate clips start at `0, 4, 8, …` strictly below `current − temporal_context_size`
//!     (so a clip never overlaps the recent window; the first chunk is a candidate, not always kept);
//!   - a clip is probed by two of its latents, `start` and `start + 2` ([`WORLDPLAY_CLIP_PROBES`]);
//!   - distance(clip) = mean over the query latents q of `((1 − sim(q, start)) + (1 − sim(q, start+2))) / 2`,
//!     `sim` the Monte-Carlo FOV overlap of [`crate::fov`] (50,000 points in a ball of radius 8, 60° × 35°
//!     field, historical camera range `< 8`), accumulated in f64 in that order;
//!   - candidates sorted by distance, ascending, *stably*: equal distances keep the older clip first (a
//!     query that overlaps nothing gets clip 0, the first chunk);
//!   - whole clips are taken best first until `memory_frames − temporal_context_size` (4) latents are held;
//!   - the context is the union, ascending (the order the pipeline slices latents, poses and actions in).
//! * RoPE: the memory pass places the K context latents at relative times `0..K−1` whatever their true
//!   indices; the chunk's latents follow at `K..K+3`.
//! * Timesteps: every context latent enters the memory pass at `stabilization_level − 1` = 14
//!   ([`WORLDPLAY_CONTEXT_TIMESTEP`]); in the image-conditioned first chunk, latent 0 too.

use glam::Mat4;
use serde::{Deserialize, Serialize};
use worldflow_protocol::validate_rigid;

use crate::error::{MemoryError, Result};
use crate::fov::{FovConfig, FovSample, RelativeCamera};
use crate::retriever::{ClipScore, MemorySelection};

/// Latents per chunk and per retrievable clip (`CHUNK_SIZE` of wan/inference/helper.py; the clip
/// stride and length of `select_mem_frames_wan`, hard-coded there).
pub const WORLDPLAY_CHUNK_LATENTS: usize = 4;
/// The latents of a clip whose FOV overlap with the query enters its distance (offsets from its start).
pub const WORLDPLAY_CLIP_PROBES: [usize; 2] = [0, 2];
/// The pipeline's `stabilization_level` (15).
pub const WORLDPLAY_STABILIZATION_LEVEL: f32 = 15.0;
/// Timestep of every context latent in the memory (KV-cache) pass: `stabilization_level − 1`.
pub const WORLDPLAY_CONTEXT_TIMESTEP: f32 = WORLDPLAY_STABILIZATION_LEVEL - 1.0;

/// Sizes in latents, named as in the official call (`wan/generate.py` defaults, pipeline arguments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldPlayConfig {
    /// `context_window_length` (16): below this history length the context is the whole history.
    pub context_window_length: usize,
    /// `memory_frames` (16): the context size once clips are retrieved (recent window + clips).
    pub memory_frames: usize,
    /// `temporal_context_size` (12): the most recent latents, always in the context.
    pub temporal_context_size: usize,
    /// FOV overlap: radius 8, 60° × 35°, 50,000 points (`generate_points_in_sphere(50000, 8.0)`).
    pub fov: FovConfig,
}

impl Default for WorldPlayConfig {
    fn default() -> Self {
        Self { context_window_length: 16, memory_frames: 16, temporal_context_size: 12, fov: FovConfig::default() }
    }
}

impl WorldPlayConfig {
    /// The sizes for which the official selection never fails its own `assert` (exactly `memory_frames`
    /// latents, clips disjoint from the recent window).
    pub fn validate(&self) -> Result<()> {
        let c = WORLDPLAY_CHUNK_LATENTS;
        let bad = |field: &str, message: String| Err(MemoryError::Config { field: field.into(), message });
        if !self.temporal_context_size.is_multiple_of(c) {
            return bad(
                "temporal_context_size",
                format!("must be a multiple of {c} (whole chunks), found {}", self.temporal_context_size),
            );
        }
        if self.memory_frames <= self.temporal_context_size
            || !(self.memory_frames - self.temporal_context_size).is_multiple_of(c)
        {
            return bad(
                "memory_frames",
                format!(
                    "must exceed temporal_context_size ({}) by a positive multiple of {c} (whole clips), found {}",
                    self.temporal_context_size, self.memory_frames
                ),
            );
        }
        if self.context_window_length < self.memory_frames {
            return bad(
                "context_window_length",
                format!(
                    "must be ≥ memory_frames ({}) so that enough clips exist when retrieval starts, found {}",
                    self.memory_frames, self.context_window_length
                ),
            );
        }
        self.fov.validate()
    }

    /// Clips retrieved per chunk once retrieval runs.
    pub fn retrieved_clips(&self) -> usize {
        (self.memory_frames - self.temporal_context_size) / WORLDPLAY_CHUNK_LATENTS
    }
}

/// Pose history and the WorldPlay selection over it.
#[derive(Debug, Clone)]
pub struct WorldPlayRetriever {
    cfg: WorldPlayConfig,
    sample: FovSample,
    poses: Vec<Mat4>,
}

impl WorldPlayRetriever {
    pub fn new(cfg: WorldPlayConfig) -> Result<Self> {
        cfg.validate()?;
        let sample = FovSample::new(&cfg.fov)?;
        Ok(Self { cfg, sample, poses: vec![] })
    }

    pub fn config(&self) -> &WorldPlayConfig {
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
        self.poses.push(world_from_camera);
        Ok(())
    }

    fn check_query(&self, query: &[Mat4]) -> Result<()> {
        if query.is_empty() {
            return Err(MemoryError::Query("no query poses (the chunk to generate needs ≥ 1 latent pose)".into()));
        }
        let n = self.poses.len();
        if !n.is_multiple_of(WORLDPLAY_CHUNK_LATENTS) {
            return Err(MemoryError::Query(format!(
                "history of {n} latents: the WorldPlay policy selects at chunk starts (multiples of \
                 {WORLDPLAY_CHUNK_LATENTS})"
            )));
        }
        for (i, q) in query.iter().enumerate() {
            validate_rigid(q, &format!("query[{i}].world_from_camera"))?;
        }
        Ok(())
    }

    /// Every candidate clip of the next chunk with its distance, in the official candidate order (start
    /// ascending); empty while the whole history is the context.
    pub fn clip_distances(&self, query: &[Mat4]) -> Result<Vec<(usize, f64)>> {
        self.check_query(query)?;
        let current = self.poses.len();
        if current < self.cfg.context_window_length {
            return Ok(vec![]);
        }
        let end = current - self.cfg.temporal_context_size;
        Ok((0..end).step_by(WORLDPLAY_CHUNK_LATENTS).map(|start| (start, self.clip_distance(start, query))).collect())
    }

    fn clip_distance(&self, start: usize, query: &[Mat4]) -> f64 {
        let [p1, p2] = WORLDPLAY_CLIP_PROBES.map(|o| &self.poses[start + o]);
        let mut total = 0.0f64;
        for q in query {
            let d1 = 1.0 - f64::from(self.sample.sim(&RelativeCamera::new(q, p1)));
            let d2 = 1.0 - f64::from(self.sample.sim(&RelativeCamera::new(q, p2)));
            total += (d1 + d2) / 2.0;
        }
        total / query.len() as f64
    }

    /// The context of the chunk whose latents have poses `query` (the next `query.len()` latents).
    pub fn select(&self, query: &[Mat4]) -> Result<MemorySelection> {
        let mut ranked = self.clip_distances(query)?;
        let current = self.poses.len();
        let (context, temporal, spatial) = if current < self.cfg.context_window_length {
            ((0..current).collect::<Vec<_>>(), 0..0, vec![])
        } else {
            // Stable: equal distances keep the older clip first, as Python's list.sort does.
            ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
            let spatial: Vec<ClipScore> = ranked
                .iter()
                .take(self.cfg.retrieved_clips())
                .map(|&(start, d)| ClipScore { start, distance: d as f32 })
                .collect();
            let temporal = current - self.cfg.temporal_context_size..current;
            let mut context: Vec<usize> = spatial
                .iter()
                .flat_map(|c| c.start..c.start + WORLDPLAY_CHUNK_LATENTS)
                .chain(temporal.clone())
                .collect();
            context.sort_unstable();
            (context, temporal, spatial)
        };
        let k = context.len() as u32;
        Ok(MemorySelection {
            context_rope_time: (0..k).collect(),
            query_rope_time: (k..k + query.len() as u32).collect(),
            context,
            temporal,
            first_chunk: 0..0,
            spatial,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec3;

    /// OpenCV camera at `pos` (y down), heading `yaw_deg` about the vertical axis.
    fn cam(pos: Vec3, yaw_deg: f32) -> Mat4 {
        Mat4::from_translation(pos) * Mat4::from_rotation_y(yaw_deg.to_radians())
    }

    fn small() -> WorldPlayConfig {
        WorldPlayConfig { fov: FovConfig { n_points: 20_000, ..FovConfig::default() }, ..WorldPlayConfig::default() }
    }

    fn with_history(cfg: WorldPlayConfig, poses: &[Mat4]) -> WorldPlayRetriever {
        let mut r = WorldPlayRetriever::new(cfg).unwrap();
        poses.iter().for_each(|p| r.push(*p).unwrap());
        r
    }

    #[test]
    fn before_the_window_the_whole_history_is_the_context() {
        let walk: Vec<Mat4> = (0..16).map(|i| cam(Vec3::Z * i as f32, 0.0)).collect();
        let q = [cam(Vec3::ZERO, 0.0); 4];
        let r = with_history(small(), &[]);
        let s = r.select(&q).unwrap();
        assert!(s.context.is_empty() && s.spatial.is_empty());
        assert_eq!(s.query_rope_time, vec![0, 1, 2, 3]);
        for n in [4, 8, 12] {
            let s = with_history(small(), &walk[..n]).select(&q).unwrap();
            assert_eq!(s.context, (0..n).collect::<Vec<_>>());
            assert_eq!(s.context_rope_time, (0..n as u32).collect::<Vec<_>>());
            assert_eq!(s.query_rope_time, (n as u32..n as u32 + 4).collect::<Vec<_>>());
            assert!(s.spatial.is_empty() && s.temporal.is_empty());
        }
        // At the window (16 latents) retrieval starts: the only candidate is clip 0.
        let s = with_history(small(), &walk).select(&q).unwrap();
        assert_eq!(s.context, (0..16).collect::<Vec<_>>());
        assert_eq!(s.spatial.iter().map(|c| c.start).collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn recent_window_always_present_and_counts_fixed() {
        // A camera turning in place: every chunk from the window on has exactly 12 recent + 4 retrieved.
        let poses: Vec<Mat4> = (0..64).map(|i| cam(Vec3::ZERO, 13.0 * i as f32)).collect();
        let mut r = WorldPlayRetriever::new(small()).unwrap();
        for chunk in 0..16 {
            let n = 4 * chunk;
            let s = r.select(&poses[n..n + 4]).unwrap();
            if n >= 16 {
                assert_eq!(s.context.len(), 16, "chunk {chunk}");
                assert_eq!(s.temporal, n - 12..n);
                assert!((n - 12..n).all(|i| s.context.contains(&i)), "chunk {chunk}: recent window missing");
                assert_eq!(s.spatial.len(), 1);
                let start = s.spatial[0].start;
                assert!(start.is_multiple_of(4) && start + 4 <= n - 12, "chunk {chunk}: clip {start}");
                assert!(s.context.windows(2).all(|w| w[0] < w[1]));
                assert_eq!(s.query_rope_time, vec![16, 17, 18, 19]);
            }
            poses[n..n + 4].iter().for_each(|p| r.push(*p).unwrap());
        }
    }

    #[test]
    fn a_revisit_retrieves_the_old_frames() {
        // Walk 24 latents along +z (0.6 per latent), then 12 latents far away (x = 40, the recent window),
        // then come back to the start facing +z again: the first chunk is the clip that saw this view.
        let mut poses: Vec<Mat4> = (0..24).map(|i| cam(Vec3::Z * 0.6 * i as f32, 0.0)).collect();
        poses.extend((0..12).map(|i| cam(Vec3::new(40.0, 0.0, 2.0 * i as f32), 90.0)));
        let r = with_history(small(), &poses);
        let query: Vec<Mat4> = (0..4).map(|i| cam(Vec3::Z * (0.6 * i as f32 + 0.3), 0.0)).collect();
        let s = r.select(&query).unwrap();
        assert_eq!(s.spatial.len(), 1);
        assert_eq!(s.spatial[0].start, 0, "{:?}", r.clip_distances(&query).unwrap());
        assert!(s.spatial[0].distance < 0.4, "{}", s.spatial[0].distance);
        assert_eq!(&s.context[..4], &[0, 1, 2, 3]);
        assert_eq!(&s.context[4..], &(24..36).collect::<Vec<_>>()[..]);
    }

    #[test]
    fn no_overlap_ties_go_to_the_oldest_clip() {
        // A fast dash (5 units per latent): no candidate clip is within range of the query, every distance
        // is exactly 1 and the stable sort keeps clip 0 first.
        let poses: Vec<Mat4> = (0..40).map(|i| cam(Vec3::Z * 5.0 * i as f32, 0.0)).collect();
        let r = with_history(small(), &poses);
        let query: Vec<Mat4> = (40..44).map(|i| cam(Vec3::Z * 5.0 * i as f32, 0.0)).collect();
        let d = r.clip_distances(&query).unwrap();
        assert_eq!(d.iter().map(|c| c.0).collect::<Vec<_>>(), vec![0, 4, 8, 12, 16, 20, 24]);
        assert!(d.iter().all(|c| c.1 == 1.0));
        let s = r.select(&query).unwrap();
        assert_eq!(s.spatial, vec![ClipScore { start: 0, distance: 1.0 }]);
    }

    #[test]
    fn more_memory_takes_more_clips_and_configs_are_checked() {
        let cfg = WorldPlayConfig { memory_frames: 20, context_window_length: 20, ..small() };
        let poses: Vec<Mat4> = (0..32).map(|i| cam(Vec3::ZERO, 10.0 * i as f32)).collect();
        let s = with_history(cfg, &poses).select(&poses[..4]).unwrap();
        assert_eq!((s.context.len(), s.spatial.len()), (20, 2));
        assert!(s.spatial[0].distance <= s.spatial[1].distance);
        for (bad, field) in [
            (WorldPlayConfig { temporal_context_size: 10, ..small() }, "temporal_context_size"),
            (WorldPlayConfig { memory_frames: 12, ..small() }, "memory_frames"),
            (WorldPlayConfig { memory_frames: 18, ..small() }, "memory_frames"),
            (WorldPlayConfig { context_window_length: 12, ..small() }, "context_window_length"),
        ] {
            let e = WorldPlayRetriever::new(bad).unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
        let mut r = with_history(small(), &poses[..5]);
        assert!(r.select(&poses[..4]).unwrap_err().to_string().contains("multiples of 4"));
        assert!(r.select(&[]).unwrap_err().to_string().contains("no query"));
        assert!(r.push(Mat4::from_scale(Vec3::splat(2.0))).is_err());
    }
}
