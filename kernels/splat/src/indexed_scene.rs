//! A Gaussian set with its spatial indexes: a static part indexed once, and a dynamic suffix replaced and
//! re-indexed every tick (a streamed world: the town, then each tick's moving Gaussians).

use worldflow_protocol::{Camera, Gaussians};

use crate::error::SplatError;
use crate::index::{collect_marked, LeafView, SceneIndex};
use crate::options::DepthCull;

/// Gaussians `0..static_len()` (indexed once) followed by a dynamic suffix (indexed on every
/// [`IndexedScene::set_dynamic`]). Render it with [`crate::Renderer::render_indexed`] or
/// [`crate::Renderer::render_many`]: the images are those of [`crate::Renderer::render`] of
/// [`IndexedScene::gaussians`], bit for bit, each camera projecting only the Gaussians that can reach its
/// frustum (and, with [`IndexedScene::occlusion`], not those hidden behind finished tiles). The counts are
/// equal too with frustum culling only; occlusion culling counts what it skipped as culled.
#[derive(Debug, Clone, Default)]
pub struct IndexedScene {
    gaussians: Gaussians,
    static_len: usize,
    /// `None`: unindexed (every camera projects every Gaussian).
    static_index: Option<SceneIndex>,
    dynamic_index: Option<SceneIndex>,
    /// Render front to back in depth slabs, skipping leaves behind finished tiles (see
    /// `renderer/slabs.rs`).
    occlusion: bool,
}

impl IndexedScene {
    /// `gaussians` as the static part, indexed.
    pub fn new(gaussians: Gaussians) -> Self {
        let n = gaussians.len();
        let static_index = Some(SceneIndex::build(&gaussians, 0..n));
        let dynamic_index = Some(SceneIndex::build(&gaussians, n..n));
        Self { gaussians, static_len: n, static_index, dynamic_index, occlusion: true }
    }

    /// `gaussians` as the static part, without an index: every camera projects every Gaussian (the
    /// reference the index is tested and benchmarked against).
    pub fn unindexed(gaussians: Gaussians) -> Self {
        Self { static_len: gaussians.len(), gaussians, static_index: None, dynamic_index: None, occlusion: false }
    }

    pub fn is_indexed(&self) -> bool {
        self.static_index.is_some()
    }

    /// Whether rendering also skips the index's leaves hidden behind finished tiles (on by default for an
    /// indexed scene): the image stays bit-identical; `RenderStats` then counts those Gaussians as culled.
    pub fn occlusion(&self) -> bool {
        self.occlusion && self.is_indexed()
    }

    /// Turns occlusion culling on or off (frustum culling only).
    pub fn set_occlusion(&mut self, on: bool) {
        self.occlusion = on;
    }

    /// Replaces the dynamic suffix with `dynamic` (same SH degree as the static part) and indexes it.
    pub fn set_dynamic(&mut self, dynamic: &Gaussians) -> Result<(), SplatError> {
        self.gaussians.truncate(self.static_len);
        self.gaussians.extend_from(dynamic)?;
        if self.static_index.is_some() {
            self.dynamic_index = Some(SceneIndex::build(&self.gaussians, self.static_len..self.gaussians.len()));
        }
        Ok(())
    }

    /// The whole set: static part, then the dynamic one.
    pub fn gaussians(&self) -> &Gaussians {
        &self.gaussians
    }

    pub fn static_len(&self) -> usize {
        self.static_len
    }

    /// Leaves of the static and the dynamic index (0 when unindexed).
    pub fn leaves(&self) -> (usize, usize) {
        let leaves = |i: &Option<SceneIndex>| i.as_ref().map_or(0, SceneIndex::leaves);
        (leaves(&self.static_index), leaves(&self.dynamic_index))
    }

    /// The leaves `camera` may see, tagged with their index (0 static, 1 dynamic), and the two indexes'
    /// always-projected Gaussians; `None` when unindexed or the camera cannot use the index.
    pub(crate) fn leaf_views(
        &self,
        camera: &Camera,
        cull: DepthCull,
        tiles: (u32, u32),
        out: &mut Vec<(u8, LeafView)>,
        scratch: &mut Vec<LeafView>,
    ) -> Option<[&[u32]; 2]> {
        let (Some(s), Some(d)) = (&self.static_index, &self.dynamic_index) else {
            return None;
        };
        if s.range() != (0..self.static_len) || d.range() != (self.static_len..self.gaussians.len()) {
            return None;
        }
        out.clear();
        let mut always = [&[][..]; 2];
        for (tag, index) in [s, d].into_iter().enumerate() {
            scratch.clear();
            always[tag] = index.leaf_views(camera, cull, tiles, scratch)?;
            out.extend(scratch.iter().map(|v| (tag as u8, *v)));
        }
        Some(always)
    }

    /// The Gaussians of a leaf of [`IndexedScene::leaf_views`].
    pub(crate) fn leaf_members(&self, tag: u8, leaf: &LeafView) -> &[u32] {
        let index = if tag == 0 { &self.static_index } else { &self.dynamic_index };
        index.as_ref().map_or(&[], |i| i.leaf_members(leaf))
    }

    /// How many Gaussians `camera` projects (`cull`: the near plane of a compat mode, and a view distance):
    /// the index's candidates, or all of them when it cannot bound this camera or the scene is unindexed. For
    /// tests and reports.
    pub fn candidate_count(&self, camera: &Camera, cull: impl Into<DepthCull>) -> usize {
        let (mut marks, mut out) = (Vec::new(), Vec::new());
        if self.candidates(camera, cull.into(), &mut marks, &mut out) {
            out.len()
        } else {
            self.gaussians.len()
        }
    }

    /// Fills `out` with the Gaussians `camera` may see, ascending (`marks` is scratch); `false` when every
    /// Gaussian is a candidate (unindexed, or a camera the index cannot bound).
    pub(crate) fn candidates(
        &self,
        camera: &Camera,
        cull: DepthCull,
        marks: &mut Vec<u64>,
        out: &mut Vec<u32>,
    ) -> bool {
        let (Some(s), Some(d)) = (&self.static_index, &self.dynamic_index) else {
            return false;
        };
        let n = self.gaussians.len();
        if s.range() != (0..self.static_len) || d.range() != (self.static_len..n) {
            return false; // (never: the indexes follow every change of the set)
        }
        marks.clear();
        marks.resize(n.div_ceil(64), 0);
        if !(s.mark(camera, cull, marks) && d.mark(camera, cull, marks)) {
            return false;
        }
        out.clear();
        collect_marked(marks, 0..n, out);
        true
    }
}
