//! Occlusion culling by depth slabs: an indexed scene rendered front to back, skipping the index's leaves
//! that lie behind tiles whose every pixel has already terminated.
//!
//! The leaves a camera may see are sorted by a lower bound `tz_min` of their Gaussians' view depth and cut
//! into up to [`MAX_SLABS`] groups of equal size (fewer for a large image with few leaves: see
//! [`MIN_LEAVES_PER_SLAB`]); slab `k` ends at `D_k`, the bound of the first leaf of slab `k + 1`
//! (rounded down), so every Gaussian of a later slab's leaves has depth ≥ `D_k`. Slab `k` projects the
//! Gaussians of its leaves and those carried from earlier slabs, blends the visible ones with depth `< D_k`
//! (in the usual stable depth order) and carries the others on. Blending resumes from the per-pixel state
//! (`T`, colour, terminated) the previous slab left, so each pixel sees exactly the depth-ordered sequence
//! of a single pass: the image is bit-identical. Before slab `k` (k ≥ 1) projects a leaf, its tile rectangle
//! (a conservative bound of where its Gaussians' α boxes can reach) is checked: if every tile in it has
//! finished (all pixels terminated at a Gaussian of depth `< D_{k−1}`, and the leaf's Gaussians are all
//! deeper), the leaf cannot change a pixel and is skipped.
//!
//! Counts: `visible` is what was blended; Gaussians of skipped leaves count as culled (so `visible`,
//! `invalid` and `tile_instances` can be lower than without occlusion culling, never higher).

use rayon::prelude::*;
use worldflow_protocol::Camera;

use super::{validate_inputs, RenderStats, Renderer};
use crate::blend::{blend_tile, composite_tile, Target, TileFrame, STATE};
use crate::error::SplatError;
use crate::image::Image;
use crate::index::collect_marked;
use crate::indexed_scene::IndexedScene;
use crate::options::TILE_SIZE;
use crate::project::{Fate, ProjectCtx};
use crate::tile_sets::TileGeom;

/// The most depth slabs per frame.
const MAX_SLABS: usize = 8;
/// A slab costs a pass over the image's tiles (state in and out, finished-tile checks): each holds at least
/// this many leaves, and at least one per four tiles of the image; fewer than two slabs render in one pass
/// (frustum culling only).
const MIN_LEAVES_PER_SLAB: usize = 8;

/// Tile flags: a slab stored its state; all its pixels have terminated; the last slab wrote its pixels.
const TOUCHED: u8 = 1;
const DONE: u8 = 2;
const WRITTEN: u8 = 4;

/// The largest f32 ≤ `x` (for `x > 0`; other values as they convert).
fn f32_at_most(x: f64) -> f32 {
    let f = x as f32;
    if f > 0.0 && f as f64 > x {
        f32::from_bits(f.to_bits() - 1)
    } else {
        f
    }
}

impl Renderer {
    /// Renders `scene` with occlusion culling; `None` (nothing rendered) when the camera cannot use the
    /// index or sees too few leaves for slabs to pay.
    pub(super) fn render_slabs(
        &mut self,
        scene: &IndexedScene,
        camera: &Camera,
        image: &mut Image,
    ) -> Result<Option<RenderStats>, SplatError> {
        let g = scene.gaussians();
        let sh_degree = validate_inputs(g, camera, &self.options)?;
        let opts = self.options;
        let ctx = ProjectCtx::new(camera, opts.depth_cull(), opts.antialiased, sh_degree);
        let min_len = if self.serial { usize::MAX } else { 1 };
        let (tiles_x, tiles_y) = (ctx.tiles_x, ctx.tiles_y);
        let mut views = std::mem::take(&mut self.leaf_views);
        let Some(always) =
            scene.leaf_views(camera, opts.depth_cull(), (tiles_x, tiles_y), &mut views, &mut self.leaf_scratch)
        else {
            self.leaf_views = views;
            return Ok(None);
        };
        let per_slab = MIN_LEAVES_PER_SLAB.max((tiles_x * tiles_y) as usize / 4);
        let slabs = (views.len() / per_slab).min(MAX_SLABS);
        if slabs < 2 {
            self.leaf_views = views;
            return Ok(None);
        }
        views.sort_by(|a, b| a.1.tz_min.total_cmp(&b.1.tz_min).then(a.0.cmp(&b.0)).then(a.1.start.cmp(&b.1.start)));

        let (w, n) = (camera.width as usize, g.len());
        image.resize(camera.width, camera.height);
        self.prepare_background(camera);
        // (The state of a tile is read only once a slab has written it: no initialisation.)
        self.state.resize(w * camera.height as usize * STATE, 0.0);
        self.tile_flags.clear();
        self.tile_flags.resize((tiles_x * tiles_y) as usize, 0);
        self.carry.clear();
        let mut stats = RenderStats { input: n, ..Default::default() };
        let mut candidates = std::mem::take(&mut self.candidates);
        let bound = |k: usize| k * views.len() / slabs;
        for k in 0..slabs {
            let limit = if k + 1 < slabs { f32_at_most(views[bound(k + 1)].1.tz_min) } else { f32::INFINITY };
            // This slab's candidates: carried Gaussians, the always-projected ones (first slab), and the
            // members of its leaves that reach an unfinished tile; ascending.
            self.marks.clear();
            self.marks.resize(n.div_ceil(64), 0);
            let marks = &mut self.marks;
            let mut set = |i: u32| marks[i as usize / 64] |= 1 << (i % 64);
            self.carry.iter().for_each(|&i| set(i));
            if k == 0 {
                always.iter().flat_map(|a| a.iter()).for_each(|&i| set(i));
            }
            for (tag, view) in &views[bound(k)..bound(k + 1)] {
                let [x0, y0, x1, y1] = view.tiles;
                let open =
                    (y0..y1).any(|ty| (x0..x1).any(|tx| self.tile_flags[(ty * tiles_x + tx) as usize] & DONE == 0));
                if k == 0 || open {
                    scene.leaf_members(*tag, view).iter().for_each(|&i| set(i));
                }
            }
            candidates.clear();
            collect_marked(&self.marks, 0..n, &mut candidates);
            self.project_list(&ctx, g, Some(&candidates), min_len);
            // Visible ones shallower than the slab's end blend now, in index order; deeper ones wait.
            self.depth_keys.clear();
            self.order.clear();
            self.next_carry.clear();
            for (j, (&st, p)) in self.status.iter().zip(&self.projected).enumerate() {
                match st {
                    Fate::Visible if p.depth_m < limit => {
                        self.depth_keys.push(p.depth_m.to_bits());
                        self.order.push(j as u32);
                    }
                    Fate::Visible => self.next_carry.push(candidates[j]),
                    Fate::Invalid => stats.invalid += 1,
                    Fate::Culled => {}
                }
            }
            std::mem::swap(&mut self.carry, &mut self.next_carry);
            stats.visible += self.order.len();
            if self.order.is_empty() {
                continue;
            }
            self.sort_and_bin(&ctx, camera, min_len)?;
            stats.tile_instances += self.tile_list.len();
            let frame = TileFrame::new(camera, &opts, &self.background_image);
            let (offsets, list, splats) = (&self.tile_offsets, &self.tile_list, &self.sorted_splats);
            let (band3, band4) = (TILE_SIZE as usize * w * 3, TILE_SIZE as usize * w * STATE);
            let last = k + 1 == slabs;
            let rows = image
                .data
                .par_chunks_mut(band3)
                .zip(self.state.par_chunks_mut(band4))
                .zip(self.tile_flags.par_chunks_mut(tiles_x as usize));
            rows.enumerate().with_min_len(min_len).for_each(|(tile_y, ((out, state), flags))| {
                for (tile_x, flags) in flags.iter_mut().enumerate() {
                    let t = tile_y * tiles_x as usize + tile_x;
                    let tile_list = &list[offsets[t] as usize..offsets[t + 1] as usize];
                    if *flags & DONE != 0 || tile_list.is_empty() {
                        continue;
                    }
                    // The last slab writes the image straight away; the earlier ones keep the state.
                    let fresh = *flags & TOUCHED == 0;
                    let image = last.then_some(&mut *out);
                    blend_tile(
                        &frame,
                        tile_x as u32,
                        tile_y as u32,
                        tile_list,
                        splats,
                        Target::State { state, fresh, image },
                    );
                    *flags |= if last { WRITTEN } else { TOUCHED };
                    let (x0, x1) = (tile_x * TILE_SIZE as usize, ((tile_x + 1) * TILE_SIZE as usize).min(w));
                    if !last && state.chunks_exact(w * STATE).all(|row| (x0..x1).all(|x| row[x * STATE] < 0.0)) {
                        *flags |= DONE;
                    }
                }
            });
        }
        self.candidates = candidates;
        self.leaf_views = views;
        stats.culled = n - stats.visible - stats.invalid;
        // Tiles the last slab did not write: from their state, or the background if never blended.
        let frame = TileFrame::new(camera, &opts, &self.background_image);
        let (band3, band4) = (TILE_SIZE as usize * w * 3, TILE_SIZE as usize * w * STATE);
        let rows = image
            .data
            .par_chunks_mut(band3)
            .zip(self.state.par_chunks(band4))
            .zip(self.tile_flags.par_chunks(tiles_x as usize));
        rows.enumerate().with_min_len(min_len).for_each(|(tile_y, ((out, state), flags))| {
            for (tile_x, &f) in flags.iter().enumerate() {
                if f & WRITTEN == 0 {
                    let geo = TileGeom::new(camera.width, camera.height, tile_x as u32, tile_y as u32);
                    composite_tile(&frame, &geo, (f & TOUCHED != 0).then_some(state), out);
                }
            }
        });
        Ok(Some(stats))
    }
}
